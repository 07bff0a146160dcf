import Foundation
import ImageSpec
import ImageStore

extension Builder {
    /// The stages one after another in this workspace: the classic builder's order and output.
    func buildInOrder(_ plan: StagePlan, run template: BuildRun) async throws -> [Int: StageOutcome] {
        var outcomes: [Int: StageOutcome] = [:]
        for index in plan.order {
            outcomes[index] = try await buildStage(index, of: plan, run: template, after: outcomes)
        }
        return outcomes
    }

    /// Every stage as soon as the stages it needs are built, each in a workspace of its own and
    /// its lines labelled with its name. The first failure stops the others at their next step;
    /// the build returns once every stage it started has ended and removed its containers.
    func buildAlongside(_ plan: StagePlan, run template: BuildRun) async throws -> [Int: StageOutcome] {
        let open = openWorkspace, sink = sink, transport = transport
        var tasks: [Int: Task<StageOutcome, Error>] = [:]
        for index in plan.order {
            // File order: every stage a stage needs comes before it, so its task exists.
            let waits = plan.needs[index, default: []].sorted().compactMap { i in tasks[i].map { (i, $0) } }
            let label = template.file.stages[index].name ?? "stage-\(index)"
            tasks[index] = Task {
                var after: [Int: StageOutcome] = [:]
                for (i, task) in waits { after[i] = try await task.value }
                try Task.checkCancellation()
                let builder = Builder(workspace: try open(), openWorkspace: open, sink: sink, stageLabel: label, transport: transport)
                return try await builder.buildStage(index, of: plan, run: template, after: after)
            }
        }
        let started = tasks
        return try await withTaskCancellationHandler {
            var outcomes: [Int: StageOutcome] = [:]
            var failure: Error?
            await withTaskGroup(of: (Int, Result<StageOutcome, Error>).self) { group in
                for (index, task) in started { group.addTask { (index, await task.result) } }
                for await (index, result) in group {
                    switch result {
                    case .success(let outcome): outcomes[index] = outcome
                    case .failure(let error):
                        // The first failure is the build's; the stages still running stop.
                        guard failure == nil else { continue }
                        failure = error
                        for task in started.values { task.cancel() }
                    }
                }
            }
            if let failure { throw failure }
            return outcomes
        } onCancel: {
            for task in started.values { task.cancel() }
        }
    }

    /// One stage, from what the stages it needs ended with: their images, whether a miss was
    /// explained on the way, the newest base they were dated by.
    func buildStage(_ index: Int, of plan: StagePlan, run template: BuildRun, after: [Int: StageOutcome]) async throws -> StageOutcome {
        var run = template
        let needed = plan.needs[index, default: []].sorted().compactMap { i in after[i].map { (i, $0) } }
        run.stepNumber = plan.firstSteps[index, default: template.stepNumber + 1] - 1
        run.stageImages = Dictionary(uniqueKeysWithValues: needed.map { ($0.0, $0.1.image) })
        run.explainedMiss = template.explainedMiss || needed.contains { $0.1.explainedMiss }
        run.newestBase = needed.compactMap(\.1.newestBase).max()
        let image = try await buildStage(run.file.stages[index], run: &run, isTarget: index == plan.target)
        return StageOutcome(image: image, base: run.stageBase, explainedMiss: run.explainedMiss, newestBase: run.newestBase)
    }
}
