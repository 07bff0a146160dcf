import Foundation
import ImageStore

/// Which stages a build makes, what each needs, and where its step numbers start.
struct StagePlan: Sendable {
    /// The needed stages, in file order.
    let order: [Int]
    /// For each needed stage, the stages it starts from or copies from directly.
    let needs: [Int: Set<Int>]
    /// Each stage's first step number: the classic builder's, which builds the stages in file order.
    let firstSteps: [Int: Int]
    let target: Int

    /// Whether some two stages need neither the other: then they are built at the same time.
    /// Otherwise the stages form one chain and are built one after another, as before.
    var hasIndependentStages: Bool {
        var reaches: [Int: Set<Int>] = [:]
        for index in order {
            reaches[index] = (needs[index] ?? []).reduce(into: Set<Int>()) { $0.formUnion(reaches[$1] ?? []); $0.insert($1) }
        }
        for (i, a) in order.enumerated() {
            for b in order[(i + 1)...] where !(reaches[b]?.contains(a) ?? false) { return true }
        }
        return false
    }
}

/// What a stage ended with, handed to the stages that need it.
struct StageOutcome: Sendable {
    let image: ImageStore.Image
    /// Its starting image (nil for scratch), for --squash.
    let base: ImageStore.Image?
    let explainedMiss: Bool
    let newestBase: Date?
}
