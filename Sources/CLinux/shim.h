#include <sys/xattr.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/openat2.h>

/// openat2(2) has no glibc wrapper in Debian 12, and Swift cannot call the variadic syscall().
static inline int strata_openat2(int dirfd, const char *path, unsigned long long flags, unsigned long long resolve) {
    struct open_how how = { .flags = flags, .mode = 0, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/// makedev/major/minor are macros in glibc.
static inline unsigned long long strata_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
static inline unsigned int strata_major(unsigned long long dev) { return major(dev); }
static inline unsigned int strata_minor(unsigned long long dev) { return minor(dev); }

/// O_PATH is only spelled so under _GNU_SOURCE, which must not be defined here (it would change
/// glibc's struct definitions and clash with Swift's Glibc module); glibc always defines __O_PATH.
static inline int strata_o_path(void) { return __O_PATH; }

#include <spawn.h>
/// POSIX_SPAWN_SETSID (glibc, Linux) is likewise behind _GNU_SOURCE: its value is fixed ABI.
static inline short strata_spawn_setsid(void) { return 0x80; }

/// Children get exactly stdin, stdout and stderr: a descriptor our parent leaked to us (a pipe,
/// say) must not stay open in a detached monitor for as long as the container runs.
static inline int strata_spawn_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

/// sync_file_range(2) is declared only under _GNU_SOURCE. SYNC_FILE_RANGE_WRITE (2): start
/// writeback of the file's dirty pages and return without waiting for it.
static inline int strata_start_writeback(int fd) {
    return (int)syscall(SYS_sync_file_range, fd, (long long)0, (long long)0, 2U);
}

/// syncfs(2), likewise behind _GNU_SOURCE: one flush of the whole filesystem holding `fd`.
static inline int strata_syncfs(int fd) { return (int)syscall(SYS_syncfs, fd); }

/// pipe2(2) with O_CLOEXEC, likewise: both ends close-on-exec from the start, so a process
/// another thread spawns meanwhile cannot inherit one and hold the pipe open.
static inline int strata_pipe_cloexec(int fds[2]) { return (int)syscall(SYS_pipe2, fds, O_CLOEXEC); }

#include <sys/ioctl.h>
#include <errno.h>
/// A new pseudo-terminal: returns its controlling side and sets `*terminal` to the other, both
/// close-on-exec, neither this process's controlling terminal. posix_openpt and its kin are
/// declared only under _XOPEN_SOURCE; these are the kernel's ioctls they stand for.
static inline int strata_open_pty(int *terminal) {
    int controller = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (controller < 0) return -1;
    int unlock = 0;
    int peer = ioctl(controller, TIOCSPTLCK, &unlock) < 0 ? -1
             : ioctl(controller, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (peer < 0) { int saved = errno; close(controller); errno = saved; return -1; }
    // A terminal's usual size, not 0×0: some programs take that for an error.
    struct winsize size = { .ws_row = 24, .ws_col = 80 };
    ioctl(controller, TIOCSWINSZ, &size);
    *terminal = peer;
    return controller;
}

/// A window size of a terminal (TIOCGWINSZ/TIOCSWINSZ: Swift cannot call the variadic ioctl).
static inline int strata_window_size(int fd, unsigned short *rows, unsigned short *columns) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) < 0) return -1;
    *rows = size.ws_row;
    *columns = size.ws_col;
    return 0;
}
static inline int strata_set_window_size(int fd, unsigned short rows, unsigned short columns) {
    struct winsize size = { .ws_row = rows, .ws_col = columns };
    return ioctl(fd, TIOCSWINSZ, &size);
}

#include <signal.h>
#include <string.h>
/// Signals as a readable descriptor: the handler writes the signal's number as one byte to a pipe,
/// so a poll loop sees a window resize or a Ctrl-C among its other descriptors. Returns the read
/// end (non-blocking, close-on-exec); `strata_unwatch_signals` puts the default handling back.
static int strata_signal_writer = -1;
static void strata_signal_handler(int signal) {
    int saved = errno;
    char byte = (char)signal;
    if (write(strata_signal_writer, &byte, 1) < 0) { /* a full pipe already says it */ }
    errno = saved;
}
static inline int strata_watch_signals(const int *signals, int count) {
    int fds[2];
    if (pipe(fds) < 0) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
    }
    strata_signal_writer = fds[1];
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = strata_signal_handler;
    action.sa_flags = SA_RESTART;
    for (int i = 0; i < count; i++) sigaction(signals[i], &action, NULL);
    return fds[0];
}
static inline void strata_unwatch_signals(const int *signals, int count, int reader) {
    for (int i = 0; i < count; i++) signal(signals[i], SIG_DFL);
    close(reader);
    close(strata_signal_writer);
    strata_signal_writer = -1;
}

#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>
#include <string.h>
/// A Unix socket in the abstract namespace (Linux): no file to leave behind when its owner dies,
/// and no 108-byte limit on the store's path. `listen` binds and listens; otherwise it connects.
/// Returns the socket, close-on-exec, or -1 with errno.
static inline int strata_abstract_socket(const char *name, int listen_) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    size_t length = strlen(name);
    if (length + 1 > sizeof(address.sun_path)) { errno = ENAMETOOLONG; return -1; }
    memcpy(address.sun_path + 1, name, length);
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc = listen_ ? bind(fd, (struct sockaddr *)&address, size) : connect(fd, (struct sockaddr *)&address, size);
    if (rc == 0 && listen_) rc = listen(fd, 16);
    if (rc < 0) { int saved = errno; close(fd); errno = saved; return -1; }
    return fd;
}

/// The user ID of the process at the other end of a Unix socket (SO_PEERCRED; struct ucred is
/// declared only under _GNU_SOURCE, its layout is fixed ABI). -1 when unknown.
static inline long long strata_peer_uid(int fd) {
    struct { int pid; unsigned int uid; unsigned int gid; } credentials;
    socklen_t size = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) < 0) return -1;
    return credentials.uid;
}

/// Accepts a connection, close-on-exec (accept4 is declared only under _GNU_SOURCE).
static inline int strata_accept(int fd) {
    int client = accept(fd, NULL, NULL);
    if (client >= 0) fcntl(client, F_SETFD, FD_CLOEXEC);
    return client;
}
