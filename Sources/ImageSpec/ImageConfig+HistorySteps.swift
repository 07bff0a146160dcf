import Foundation

extension ImageConfig {
    /// One step of an image's history as `docker history` shows it: the size is the layer the
    /// step made, or 0 for a step that made none (ENV, CMD: Docker's 0B rows).
    public struct HistoryStep: Sendable, Equatable {
        public var created: Date?
        public var createdBy: String
        public var size: Int64
        public var comment: String
    }

    /// The steps, oldest first, with each layer's size from `layerSizes` (bottom first). Without
    /// a recorded history there is one step per layer, as Docker shows it. The image store and
    /// the registry's web page both call this.
    public func historySteps(layerSizes: [Int64]) -> [HistoryStep] {
        guard !history.isEmpty else {
            return layerSizes.map { HistoryStep(created: created, createdBy: "", size: $0, comment: "") }
        }
        var next = 0
        return history.map { step in
            var size: Int64 = 0
            if !step.isEmptyLayer, next < layerSizes.count {
                size = layerSizes[next]
                next += 1
            }
            return HistoryStep(created: step.createdDate, createdBy: step.createdBy ?? "", size: size, comment: step.comment ?? "")
        }
    }
}
