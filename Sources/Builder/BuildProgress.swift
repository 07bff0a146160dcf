import ImageSpec

/// What a build reports as it goes, in the order of Docker's classic builder output. Front ends
/// render it (the CLI in Docker's words: `Step 2/5 : RUN make`, ` ---> Using cache`, …). Stages
/// built at the same time report with their stage's name, each stage's reports in its order.
public enum BuildProgress: Sendable, Equatable {
    /// A step starts: its number, the total, and the instruction as written.
    case step(number: Int, total: Int, instruction: String)
    /// The image a step (or a stage's base) is now.
    case image(Digest)
    /// The step's image came from the cache.
    case usingCache
    /// The first step of this build that missed the cache, and what changed since the last build.
    case cacheMiss(reason: String)
    /// A RUN step runs in this container (its short ID).
    case runningIn(container: String)
    case removedContainer(String)
    /// A line a RUN step printed, when its stage is built alongside others (a stage built alone
    /// has its RUN output go straight to the terminal).
    case output(String, standardError: Bool)
    /// The base image's ONBUILD triggers run first.
    case executingTriggers(count: Int)
    /// The target image.
    case built(Digest)
    case tagged(Reference)
}
