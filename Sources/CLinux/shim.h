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
