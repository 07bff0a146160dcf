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
