import ImageSpec

/// What `strata system check` found in an image store, or `strata registry check` in a
/// registry's storage, and what `--repair` did about it.
///
/// A finding is either *damage* — something broken or lost: a blob that no longer hashes to its
/// name, a record whose blob is gone, a snapshot that was never finished or no longer matches its
/// layer, a tag whose manifest is gone — or a *leftover*: what a killed process leaves (ingests,
/// temp trees, mounts, runtime state, upload sessions, a collection stopped midway) or a crash
/// between two steps (a blob nothing references). Leftovers cost space only; the next command
/// that needs the room sweeps them, and they do not make a store unclean.
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
            // A registry's storage.
            case danglingTag = "dangling-tag"
            case staleLink = "stale-link"
            case staleUpload = "stale-upload"
            case unfinishedCollection = "unfinished-collection"

            public var isDamage: Bool {
                switch self {
                case .damagedBlob, .missingBlob, .unreadableRecord, .incompleteSnapshot, .damagedSnapshot, .missingContainerDirectory,
                     .danglingTag:
                    return true
                case .strayBlob, .straySnapshot, .staleIngest, .staleTemporary, .strayContainerDirectory, .staleMount, .staleRuntimeState,
                     .staleLink, .staleUpload, .unfinishedCollection:
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
        public var repositories = 0, manifests = 0
    }

    public var root: String
    public var checked = Counts()
    public var findings: [Finding] = []
    public var repair: Bool
    public var deep: Bool

    public init(root: String, repair: Bool, deep: Bool = false) {
        self.root = root
        self.repair = repair
        self.deep = deep
    }

    /// Adds a finding. `would` says what `--repair` would do (or, with no `did`, what the user
    /// can do); when repairing and the finding is repairable, `fix` runs and `did` says what it did.
    public mutating func record(_ kind: Finding.Kind, _ subject: String, _ problem: String,
                                would: String, did: String? = nil, _ fix: () throws -> Void = {}) {
        var repaired = false
        var action = would
        if repair, let did {
            do {
                try fix()
                (repaired, action) = (true, did)
            } catch {
                action = "could not be repaired: \(StrataError.wrapping(error).message)"
            }
        }
        findings.append(Finding(kind: kind, subject: subject, problem: problem, action: action, repaired: repaired, repairable: did != nil))
    }

    public var outcome: Outcome {
        let damage = findings.filter(\.kind.isDamage)
        if damage.isEmpty { return .clean }
        return damage.allSatisfy(\.repaired) ? .repaired : .damaged
    }
}
