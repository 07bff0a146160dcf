import ArgumentParser
import Foundation
import StrataEngine

/// `strata inspect IMAGE…` / `strata image inspect`: Docker's JSON shape.
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Display detailed information on one or more images.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Format the output using a Go template, e.g. '{{.Id}}' or '{{json .RootFS.Layers}}'.")
    var format: String?
    @Argument(help: "Images (name, name:tag, name@digest, or ID).") var images: [String]

    func run() async throws {
        guard !images.isEmpty else { throw ValidationError("\"inspect\" requires at least 1 argument.") }
        let engine = try global.engine()
        let template = try format.map { $0 == "json" ? try GoTemplate("{{json .}}") : try GoTemplate($0) }
        var objects: [OrderedJSON] = []
        var failures: [String] = []
        for name in images {
            do {
                objects.append(try engine.inspect(name))
            } catch let error as StrataError where error.code == .imageUnknown {
                failures.append(error.message)
            }
        }
        if let template {
            emit(try objects.map { try template.render($0.value) + "\n" }.joined())
        } else {
            emit(OrderedJSON.array(objects).rendered() + "\n")
        }
        if !failures.isEmpty { throw StrataError(.imageUnknown, failures.joined(separator: "\nError: ")) }
    }
}

