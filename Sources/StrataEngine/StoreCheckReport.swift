import ImageSpec

/// What `strata system check` found in a store, and what `--repair` did about it.
///
/// A finding is either *damage* — something broken or lost: a blob that no longer hashes to its
/// name, a record whose blob is gone, a snapshot that was never finished or no longer matches its
/// layer — or a *leftover*: what a killed process leaves (ingests, temp trees, mounts, runtime
/// state) or a crash between two steps (a blob no image references). Leftovers cost space only;
/// the next command that needs the room sweeps them, and they do not make a store unclean.
public struct StoreCheckReport: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// No damage (leftovers may be listed).
        case clean
        /// Damage was found and `--repair` dealt with all of it.
        case repaired
        /// Damage remains: run with `--repair`, or do what its findings say.
        case damaged

        /// fsck's convention: 0 clean, 1 repaired, 2 damage left.
        public var exitCode: Int32 {
            switch self {
            case .clean: return 0
            case .repaired: return 1
            case .damaged: return 2
            }
        }
    }

    public struct Finding: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable {
            case damagedBlob = "damaged-blob"
            case missingBlob = "missing-blob"
            case unreadableRecord = "unreadable-record"
            case incompleteSnapshot = "incomplete-snapshot"
            case damagedSnapshot = "damaged-snapshot"
            case missingContainerDirectory = "missing-container-directory"
            case strayBlob = "stray-blob"
            case straySnapshot = "stray-snapshot"
            case staleIngest = "stale-ingest"
            case staleTemporary = "stale-temporary"
            case strayContainerDirectory = "stray-container-directory"
            case staleMount = "stale-mount"
            case staleRuntimeState = "stale-runtime-state"

            public var isDamage: Bool {
                switch self {
                case .damagedBlob, .missingBlob, .unreadableRecord, .incompleteSnapshot, .damagedSnapshot, .missingContainerDirectory:
                    return true
                case .strayBlob, .straySnapshot, .staleIngest, .staleTemporary, .strayContainerDirectory, .staleMount, .staleRuntimeState:
                    return false
                }
            }
        }

        public var kind: Kind
        /// What it is about: a digest, a path in the store, a container ID.
        public var subject: String
        /// What is wrong, in plain words.
        public var problem: String
        /// What `--repair` did; without `--repair`, what it would do; when nothing can be done
        /// here, what the user can do.
        public var action: String
        public var repaired: Bool
        /// Whether `--repair` can deal with it (a missing blob needs a pull or load instead).
        public var repairable: Bool
    }

    public struct Counts: Sendable, Equatable {
        public var blobs = 0, images = 0, snapshots = 0, containers = 0
    }

    public var root: String
    public var checked = Counts()
    public var findings: [Finding] = []
    public var repair: Bool
    public var deep: Bool

    public var outcome: Outcome {
        let damage = findings.filter(\.kind.isDamage)
        if damage.isEmpty { return .clean }
        return damage.allSatisfy(\.repaired) ? .repaired : .damaged
    }
}
