import ArgumentParser
import Foundation
import StrataEngine

/// Options of every command that talks to a registry.
struct RegistryFlags: ParsableArguments {
    @Option(name: .customLong("tls-verify"), help: ArgumentHelp("Require HTTPS with a valid certificate (false also allows plain HTTP).", valueName: "bool"))
    var tlsVerify: Bool = true
}
