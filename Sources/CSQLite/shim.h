#include <sqlite3.h>

/// The last connection to close checkpoints the WAL into the database (so that the next process
/// opens a database with nothing to recover) but keeps the WAL file instead of deleting it: the
/// next process that writes then need not create it again, which costs a sync of the directory.
static inline int strata_sqlite_persist_wal(sqlite3 *db) {
    int persist = 1;
    return sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
}
