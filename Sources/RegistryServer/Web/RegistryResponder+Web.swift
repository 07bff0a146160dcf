import Archive
import Foundation
import HTTPTypes
import Hummingbird
import ImageSpec
import Mustache
import NIOCore

/// The web page at `/`: repositories, their tags, an image's layers, history and config, and
/// what changed between two tags. Rendered on the server, usable without JavaScript; a session
/// is a signed cookie, and a form that changes something carries a token derived from it.
extension RegistryResponder {
    static let sessionCookie = "strata_session"
    static let sessionLifetime: TimeInterval = 12 * 3600
    /// Changes listed on a diff page, at most: the rest is counted.
    static let diffLimit = 2000

    /// Who is looking: the session's user, anonymous, or (without authentication) everyone.
    struct Viewer {
        var caller: Caller
        var session: String?

        var csrf: String? {
            session.map { String(Digest.sha256(of: Array("csrf:\($0)".utf8)).encoded.prefix(32)) }
        }
    }

    /// The page for a path outside the API, or nil when the path is the API's.
    func web(_ request: Request, from address: String?) async throws -> Response? {
        let path = request.uri.path
        let method = request.method
        switch (path, method) {
        case ("/", .get), ("/", .head):
            return try await indexPage(request)
        case ("/static/style.css", .get):
            var headers: HTTPFields = [:]
            headers[.contentType] = "text/css; charset=utf-8"
            headers[.cacheControl] = "max-age=3600"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: WebTemplates.style)))
        case ("/signin", .get):
            return try await page("signin", title: "Sign in", request, [:])
        case ("/signin", .post):
            return try await signIn(request, from: address)
        case ("/signout", .post):
            let viewer = try await viewer(request)
            let fields = Self.formFields(String(buffer: try await request.body.collect(upTo: 64 << 10)))
            guard viewer.csrf != nil, fields["csrf"]?.first == viewer.csrf else { return try await refused(request, "the sign-out form is stale: reload the page") }
            return Self.redirect("/", cookie: "\(Self.sessionCookie)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
        default:
            break
        }
        guard path.hasPrefix("/r/") else { return nil }
        var parts = path.dropFirst(3).split(separator: "/").map(String.init)
        if parts.last == "description", method == .post {
            parts.removeLast()
            return try await describe(parts.joined(separator: "/"), request)
        }
        if parts.last == "diff", method == .get {
            parts.removeLast()
            return try await diffPage(parts.joined(separator: "/"), request)
        }
        if parts.count >= 3, parts[parts.count - 2] == "tags", method == .get {
            let reference = parts.removeLast()
            parts.removeLast()
            return try await imagePage(parts.joined(separator: "/"), reference, request)
        }
        guard method == .get else { throw DistributionError(.unsupported, "\(method) is not supported on \(path.prefix(200))") }
        return try await repositoryPage(parts.joined(separator: "/"), request)
    }

    // MARK: pages

    private func indexPage(_ request: Request) async throws -> Response {
        let viewer = try await viewer(request)
        let query = request.uri.queryParameters["q"].map(String.init) ?? ""
        let found = try await blocking { [storage] in try storage.visibleRepositories(viewer.caller, matching: query, limit: 1000) }
        let repositories: [[String: Any]] = found.map { info in
            let official = RegistryStorage.namespace(of: info.name) == "library"
            return ["name": info.name, "display": Self.display(info.name), "visibility": info.isPrivate ? "private" : "public",
                    "official": official, "description": info.description]
        }
        return try await page("index", title: query.isEmpty ? "Repositories" : "Search", request,
                              ["repositories": repositories, "count": found.count, "one": found.count == 1], viewer: viewer)
    }

    private func repositoryPage(_ name: String, _ request: Request) async throws -> Response {
        let viewer = try await viewer(request)
        guard let (name, info) = try await visible(name, viewer) else { return try await missing(name, request, viewer) }
        let canEdit = try storage.allowedActions(viewer.caller, on: name).contains(.push)
        let tagged = try await blocking { [storage] in try storage.taggedManifests(name) }
        var tags: [[String: Any]] = []
        for entry in tagged {
            let summary = try await blocking { [self] in try summarize(entry.digest) }
            tags.append(["tag": entry.tag, "name": name, "digest": entry.digest.description, "shortDigest": Self.short(entry.digest),
                         "size": Units.humanSize(summary.size), "platforms": summary.platforms.joined(separator: ", "),
                         "pushed": Units.ago(entry.updated), "pushedAt": RFC3339.format(entry.updated), "pushedBy": entry.pushedBy ?? "—"])
        }
        return try await page("repository", title: Self.display(name), request, [
            "name": name, "display": Self.display(name), "visibility": info.isPrivate ? "private" : "public",
            "official": RegistryStorage.namespace(of: name) == "library", "description": info.description,
            "canEdit": canEdit && viewer.csrf != nil || canEdit && access.mode == .none, "tags": tags, "firstTag": tagged.first?.tag as Any,
            "canDiff": tagged.count >= 2,
            // The newest tag against the one before it, by default.
            "fromTags": tagged.enumerated().map { ["tag": $1.tag, "selected": $0 == 1] as [String: Any] },
            "toTags": tagged.enumerated().map { ["tag": $1.tag, "selected": $0 == 0] as [String: Any] },
        ], viewer: viewer)
    }

    private func imagePage(_ name: String, _ reference: String, _ request: Request) async throws -> Response {
        let viewer = try await viewer(request)
        guard let (name, _) = try await visible(name, viewer),
              let parsed = try? ManifestReference(parsing: reference),
              let stored = try storage.manifest(name, parsed) else {
            return try await missing("\(name):\(reference)", request, viewer)
        }
        var values: [String: Any] = [
            "name": name, "display": Self.display(name), "reference": reference, "digest": stored.digest.description,
            "mediaType": stored.mediaType, "pullSuffix": reference.contains(":") ? "@\(reference)" : ":\(reference)",
        ]
        let bytes = try await storage.readBlob(stored.digest, limit: ValidatedManifest.maxBytes)
        if MediaType(stored.mediaType).isIndex {
            let index = try JSONCoding.decode(Index.self, from: Data(bytes), what: "index \(stored.digest)")
            let sizes = try await blocking { [self] in try index.manifests.map { try summarize($0.digest).size } }
            values["platforms"] = zip(index.manifests, sizes).map { child, size -> [String: Any] in
                ["name": name, "digest": child.digest.description, "shortDigest": Self.short(child.digest),
                 "platform": child.platform?.description ?? "unknown", "size": Units.humanSize(size)]
            }
            return try await page("image", title: "\(Self.display(name)):\(reference)", request, values, viewer: viewer)
        }
        let manifest = try Manifest.decode(bytes)
        let config = try ImageConfig.decode(try await storage.readBlob(manifest.config.digest))
        // Which other tags of this repository use each layer.
        let others = try await blocking { [self] in
            try storage.taggedManifests(name).filter { $0.digest != stored.digest }.map { ($0.tag, try layerDigests(of: $0.digest)) }
        }
        let largest = max(manifest.layers.map(\.size).max() ?? 1, 1)
        values["hasLayers"] = true
        values["layers"] = manifest.layers.enumerated().map { number, layer -> [String: Any] in
            let sharedWith = others.filter { $0.1.contains(layer.digest) }.map(\.0)
            // Taller for bigger, on a log scale, so a 2 kB layer stays visible beside a 200 MB one;
            // ten heights as classes, since the page allows no inline style.
            let height = 1 + Int((9 * log(1 + Double(layer.size)) / log(1 + Double(largest))).rounded())
            return ["number": number + 1, "digest": layer.digest.description, "shortDigest": Self.short(layer.digest),
                    "size": Units.humanSize(layer.size), "height": height, "shared": !sharedWith.isEmpty,
                    "sharedWith": sharedWith.sorted().joined(separator: ", ")]
        }
        let steps = config.historySteps(layerSizes: manifest.layers.map(\.size))
        values["history"] = steps.enumerated().reversed().map { index, step -> [String: Any] in
            ["id": index == steps.count - 1 ? manifest.config.digest.short : "<missing>", "created": Units.ago(step.created),
             "createdBy": step.createdBy, "size": Units.humanSize(step.size), "comment": step.comment]
        }
        let container = config.config
        let configRows: [(String, [String])] = [
            ("Platform", [config.platform.description]),
            ("Env", container.env ?? []), ("Cmd", container.cmd ?? []), ("Entrypoint", container.entrypoint ?? []),
            ("ExposedPorts", container.exposedPorts ?? []),
            ("Labels", (container.labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }),
        ]
        values["config"] = configRows.map { ["key": $0.0, "values": $0.1] }
        return try await page("image", title: "\(Self.display(name)):\(reference)", request, values, viewer: viewer)
    }

    private func diffPage(_ name: String, _ request: Request) async throws -> Response {
        let viewer = try await viewer(request)
        let query = request.uri.queryParameters
        guard let (name, _) = try await visible(name, viewer) else { return try await missing(name, request, viewer) }
        guard let from = query["from"].map(String.init), let to = query["to"].map(String.init) else {
            throw DistributionError(.unsupported, "compare needs ?from=TAG&to=TAG", status: .badRequest)
        }
        let diff = try await blocking { [self] () -> ImageDiff? in
            guard let a = try diffLayers(name, from), let b = try diffLayers(name, to) else { return nil }
            return try ImageDiff.between(a, b)
        }
        guard let diff else { return try await missing("\(name):\(from) or \(name):\(to)", request, viewer) }
        let kinds: [ImageDiff.Kind: String] = [.added: "added", .changed: "changed", .deleted: "deleted"]
        let changes = diff.changes.prefix(Self.diffLimit).map { change -> [String: Any] in
            ["kind": change.kind.rawValue, "kindName": kinds[change.kind] ?? "", "path": change.path.description, "size": Units.humanSize(change.size)]
        }
        return try await page("diff", title: "\(Self.display(name)): \(from) → \(to)", request, [
            "name": name, "display": Self.display(name), "from": from, "to": to,
            "sharedCount": diff.shared.count, "sharedSize": diff.shared.isEmpty ? "" : Units.humanSize(diff.shared.map(\.size).reduce(0, +)),
            "onlyFromCount": diff.onlyInFirst.count, "onlyToCount": diff.onlyInSecond.count,
            "added": diff.changes.filter { $0.kind == .added }.count, "changed": diff.changes.filter { $0.kind == .changed }.count,
            "deleted": diff.changes.filter { $0.kind == .deleted }.count, "changes": changes,
            "truncated": diff.changes.count > Self.diffLimit, "shown": Self.diffLimit, "total": diff.changes.count,
        ], viewer: viewer)
    }

    // MARK: forms

    private func signIn(_ request: Request, from address: String?) async throws -> Response {
        let fields = Self.formFields(String(buffer: try await request.body.collect(upTo: 64 << 10)))
        let user = fields["username"]?.first ?? "", password = fields["password"]?.first ?? ""
        guard access.mode != .none, let sessions = access.sessions else {
            return try await page("signin", title: "Sign in", request, ["error": "this registry runs without sign-in (--auth none)"], status: .notFound)
        }
        do {
            let caller = try await access.signIn(user: user, secret: password, address: address)
            record(RegistryEvent(.login, actor: caller.user, address: address, detail: "web page"))
            let (session, _) = try await sessions.issue(user: caller.user, access: [], tokenID: caller.tokenID)
            let secure = scheme == "https" ? "; Secure" : ""
            return Self.redirect("/", cookie: "\(Self.sessionCookie)=\(session); Path=/; Max-Age=\(Int(Self.sessionLifetime)); HttpOnly; SameSite=Strict\(secure)")
        } catch let error as StrataError where error.code == .unauthorized || error.code == .tooManyRequests {
            record(RegistryEvent(.loginFailed, actor: user, address: address, detail: error.message))
            return try await page("signin", title: "Sign in", request, ["error": error.message, "username": user],
                                  status: error.code == .unauthorized ? .unauthorized : .tooManyRequests)
        }
    }

    private func describe(_ name: String, _ request: Request) async throws -> Response {
        let viewer = try await viewer(request)
        let fields = Self.formFields(String(buffer: try await request.body.collect(upTo: 64 << 10)))
        guard let (name, _) = try await visible(name, viewer) else { return try await missing(name, request, viewer) }
        guard access.mode == .none || (viewer.csrf != nil && fields["csrf"]?.first == viewer.csrf) else {
            return try await refused(request, "the form is stale or came from another site: reload the page and save again")
        }
        guard try storage.allowedActions(viewer.caller, on: name).contains(.push) else {
            return try await refused(request, try storage.denial(viewer.caller, .push, on: name))
        }
        let text = fields["description"]?.first?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        do {
            try storage.setDescription(name, text)
        } catch let error as StrataError where error.code == .invalidArgument {
            return try await refused(request, error.message, status: .badRequest)
        }
        return Self.redirect("/r/\(name)", cookie: nil)
    }

    // MARK: helpers

    private func viewer(_ request: Request) async throws -> Viewer {
        guard access.mode != .none else { return Viewer(caller: Caller(user: nil, isAdmin: true), session: nil) }
        guard let session = Self.cookie(Self.sessionCookie, in: request), let sessions = access.sessions,
              let claims = try? await sessions.verify(session), let user = claims.user,
              try storage.account(user)?.kind == .user else {
            return Viewer(caller: .anonymous, session: nil)
        }
        return Viewer(caller: try storage.caller(user, tokenID: claims.tok), session: session)
    }

    /// The repository and its record, when the viewer may pull it: else nil, as for one that does not exist.
    private func visible(_ name: String, _ viewer: Viewer) async throws -> (String, RegistryStorage.RepositoryInfo)? {
        let name = RegistryStorage.canonical(name)
        guard RegistryStorage.repositoryNameProblemAfterCanonical(name) == nil,
              try storage.allowedActions(viewer.caller, on: name).contains(.pull),
              let info = try storage.repositoryInfo(name) else { return nil }
        return (name, info)
    }

    /// An image's size (its config and layers; an index's children together) and platforms.
    private func summarize(_ digest: Digest) throws -> (size: Int64, platforms: [String]) {
        let bytes = try storage.readBlobWaiting(digest, limit: ValidatedManifest.maxBytes)
        if let manifest = try? Manifest.decode(bytes) {
            let platform = (try? ImageConfig.decode(try storage.readBlobWaiting(manifest.config.digest)))?.platform.description
            return (manifest.config.size + manifest.layers.map(\.size).reduce(0, +), platform.map { [$0] } ?? [])
        }
        let index = try JSONCoding.decode(Index.self, from: Data(bytes), what: "index \(digest)")
        let children = try index.manifests.map { try summarize($0.digest).size }
        return (children.reduce(0, +), index.manifests.map { $0.platform?.description ?? "unknown" })
    }

    private func layerDigests(of digest: Digest) throws -> Set<Digest> {
        guard let manifest = try? Manifest.decode(try storage.readBlobWaiting(digest, limit: ValidatedManifest.maxBytes)) else { return [] }
        return Set(manifest.layers.map(\.digest))
    }

    /// A tag's layers for the image diff: an index's linux/amd64 image (or its first).
    private func diffLayers(_ name: String, _ tag: String) throws -> [ImageDiff.Layer]? {
        guard let reference = try? ManifestReference(parsing: tag), var stored = try storage.manifest(name, reference) else { return nil }
        var bytes = try storage.readBlobWaiting(stored.digest, limit: ValidatedManifest.maxBytes)
        if MediaType(stored.mediaType).isIndex {
            let index = try JSONCoding.decode(Index.self, from: Data(bytes), what: "index \(stored.digest)")
            guard let child = index.manifests.first(where: { $0.platform?.os == "linux" && $0.platform?.architecture == "amd64" }) ?? index.manifests.first else { return nil }
            stored = RegistryStorage.StoredManifest(digest: child.digest, mediaType: child.mediaType.rawValue, size: child.size)
            bytes = try storage.readBlobWaiting(child.digest, limit: ValidatedManifest.maxBytes)
        }
        let manifest = try Manifest.decode(bytes)
        let diffIDs = try ImageConfig.decode(try storage.readBlobWaiting(manifest.config.digest)).rootfs.diffIDs
        guard diffIDs.count == manifest.layers.count else {
            throw StrataError(.invalidJSON, "\(name):\(tag) names \(manifest.layers.count) layers but its config \(diffIDs.count) diff IDs")
        }
        let storage = self.storage
        return zip(manifest.layers, diffIDs).map { layer, diffID in
            ImageDiff.Layer(diffID: diffID, size: layer.size, name: layer.digest.short) {
                try Codecs.decompressing(try storage.openBlobWaiting(layer.digest), as: layer.mediaType.layerCompression ?? .none)
            }
        }
    }

    private func page(_ template: String, title: String, _ request: Request, _ values: [String: Any], viewer: Viewer? = nil,
                      status: HTTPResponse.Status = .ok) async throws -> Response {
        let viewer = if let viewer { viewer } else { try await self.viewer(request) }
        var values = values
        values["title"] = title
        values["host"] = request.head.authority ?? "localhost"
        values["user"] = viewer.caller.user as Any
        values["csrf"] = viewer.csrf as Any
        values["signinEnabled"] = access.mode != .none
        if values["query"] == nil { values["query"] = request.uri.queryParameters["q"].map(String.init) ?? "" }
        let html = WebTemplates.library.render(Self.present(values), withTemplate: template) ?? ""
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // No script runs here, and no other site may frame the page.
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; script-src 'none'; frame-ancestors 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        let body = ByteBuffer(string: html)
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: status, headers: headers, body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: body))
    }

    private func missing(_ what: String, _ request: Request, _ viewer: Viewer) async throws -> Response {
        try await page("notfound", title: "Not found", request, ["message": "No repository or image \(what) is known to this registry\(viewer.caller.user == nil && access.mode != .none ? " (signing in may show more)" : "")."],
                       viewer: viewer, status: .notFound)
    }

    private func refused(_ request: Request, _ message: String, status: HTTPResponse.Status = .forbidden) async throws -> Response {
        try await page("notfound", title: "Refused", request, ["message": message], status: status)
    }

    /// Mustache shows an empty string, and prints a missing optional as "nil": both are left
    /// out, so that `{{#key}}` sections mean "has a value".
    static func present(_ values: [String: Any]) -> [String: Any] {
        var kept: [String: Any] = [:]
        for (key, value) in values {
            switch value {
            case let text as String where text.isEmpty: continue
            case let optional as Optional<Any> where optional == nil: continue
            case let rows as [[String: Any]]: kept[key] = rows.map(present)
            case let object as [String: Any]: kept[key] = present(object)
            default: kept[key] = value
            }
        }
        return kept
    }

    static func redirect(_ location: String, cookie: String?) -> Response {
        var headers: HTTPFields = [:]
        headers[.location] = location
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }

    /// `library/busybox` is shown as Docker users type it: `busybox`.
    static func display(_ name: String) -> String {
        name.hasPrefix("library/") ? String(name.dropFirst("library/".count)) : name
    }

    static func short(_ digest: Digest) -> String { "\(digest.description.prefix { $0 != ":" }):\(digest.short)" }
}
