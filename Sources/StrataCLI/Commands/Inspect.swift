import ArgumentParser
import Foundation
import StrataEngine

/// `strata inspect NAME…`: a container's or an image's JSON, in Docker's shape (`--type` to say which).
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Return low-level information on containers or images.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Format the output using a Go template, e.g. '{{.Id}}' or '{{json .RootFS.Layers}}'.")
    var format: String?
    @Option(help: "Only look for this type: container or image.") var type: String?
    @Argument(help: "Containers (name or ID) or images (name, name:tag, name@digest, or ID).") var names: [String]

    func run() async throws {
        let engine = try global.engine()
        switch type {
        case nil: try renderInspection(names, format: format, what: "inspect", unknown: [.imageUnknown], engine.inspectAny)
        case "image": try renderInspection(names, format: format, what: "inspect", unknown: [.imageUnknown], engine.inspect)
        case "container": try renderInspection(names, format: format, what: "inspect", unknown: [.containerUnknown], engine.inspectContainer)
        case let other?: throw StrataError(.invalidArgument, "\"\(other)\" is not a valid value for --type: container or image")
        }
    }
}

/// `strata image inspect`.
struct ImageInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on one or more images.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Format the output using a Go template, e.g. '{{.Id}}'.") var format: String?
    @Argument(help: "Images (name, name:tag, name@digest, or ID).") var images: [String]

    func run() async throws {
        try renderInspection(images, format: format, what: "image inspect", unknown: [.imageUnknown], try global.engine().inspect)
    }
}

/// `strata container inspect`.
struct ContainerInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on one or more containers.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Format the output using a Go template, e.g. '{{.State.Status}}'.") var format: String?
    @Argument(help: "Containers (name or ID).") var containers: [String]

    func run() async throws {
        try renderInspection(containers, format: format, what: "container inspect", unknown: [.containerUnknown], try global.engine().inspectContainer)
    }
}

/// Docker's way with inspect: one JSON array of what was found (or a template per object),
/// and the names that were not, together, with a non-zero exit.
func renderInspection(_ names: [String], format: String?, what: String, unknown: Set<StrataError.Code>,
                      _ inspect: (String) throws -> OrderedJSON) throws {
    guard !names.isEmpty else { throw ValidationError("\"\(what)\" requires at least 1 argument.") }
    let template = try format.map { $0 == "json" ? try GoTemplate("{{json .}}") : try GoTemplate($0) }
    var objects: [OrderedJSON] = [], failures: [StrataError] = []
    for name in names {
        do { objects.append(try inspect(name)) } catch let error as StrataError where unknown.contains(error.code) {
            failures.append(error)
        }
    }
    if let template {
        emit(try objects.map { try template.render($0.value) + "\n" }.joined())
    } else {
        emit(OrderedJSON.array(objects).rendered() + "\n")
    }
    if let first = failures.first { throw StrataError(first.code, failures.map(\.message).joined(separator: "\nError: ")) }
}
