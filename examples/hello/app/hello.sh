#!/bin/sh
cat /etc/hello-version
echo "$GREETING from $(pwd)"
