import AsyncHTTPClient
import ImageSpec
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// A registry's error answer to a request, as its own type.
    func responseError(_ method: HTTPMethod, _ target: String, _ response: HTTPClientResponse, body: ByteBuffer) async -> RegistryResponseError {
        let url = target.hasPrefix("http://") || target.hasPrefix("https://") ? target : await absolute(target)
        return RegistryResponseError(status: Int(response.status.code), method: method.rawValue, url: url,
                                     headers: response.headers, body: Array(buffer: body))
    }

    /// A registry's error answer as a message a person can act on, in Docker's words, with the
    /// answer kept as the cause. The code comes from the status and the OCI error codes.
    func error(_ method: HTTPMethod, _ target: String, _ response: HTTPClientResponse, body: ByteBuffer,
               repository: String, reference: String?, blob: Digest? = nil, pushing: Bool) async -> StrataError {
        error(await responseError(method, target, response, body: body), repository: repository, reference: reference, blob: blob, pushing: pushing)
    }

    func error(_ answer: RegistryResponseError, repository: String, reference: String?, blob: Digest? = nil, pushing: Bool) -> StrataError {
        let name = "\(endpoint.name)/\(repository)"
        let details = answer.details
        let code: StrataError.Code
        let message: String
        switch answer.status {
        case 401, 403:
            code = answer.status == 403 || answer.has("DENIED") ? .denied : .unauthorized
            if pushing {
                // A registry that says why (whose namespace it is) is quoted; Docker Hub's fixed words otherwise.
                let reason = answer.has("DENIED") && !details.isEmpty ? details : "denied: requested access to the resource is denied"
                message = "\(reason) (push to \(name); check 'strata login \(endpoint.name)')"
            } else {
                message = "pull access denied for \(Self.familiar(name)), repository does not exist or may require 'strata login'\(details.isEmpty ? "" : ": \(details)")"
            }
        case 429:
            code = .tooManyRequests
            message = "\(name): \(details.isEmpty ? "toomanyrequests: too many requests" : details) (still after \(retry.retries) retries)"
        case _ where answer.has("DIGEST_INVALID"):
            code = .digestMismatch
            message = "\(name) rejected blob\(blob.map { " \($0)" } ?? ""): \(details)"
        case _ where answer.has("BLOB_UNKNOWN") || (answer.status == 404 && blob != nil):
            code = .blobUnknown
            message = "blob \(blob?.description ?? "") is not in \(name): \(details.isEmpty ? "blob unknown" : details)"
        case _ where answer.has("MANIFEST_UNKNOWN") || (answer.status == 404 && reference != nil):
            code = .manifestUnknown
            let separator = reference?.hasPrefix("sha256:") == true ? "@" : ":"
            message = "manifest for \(Self.familiar(name))\(separator)\(reference ?? "") not found: \(details.isEmpty ? "manifest unknown: manifest unknown" : details)"
        case 404:
            code = .manifestUnknown
            message = "repository \(Self.familiar(name)) not found: \(details.isEmpty ? "name unknown" : details)"
        default:
            code = answer.has("TOOMANYREQUESTS") ? .tooManyRequests : .registry
            let reason = HTTPResponseStatus(statusCode: answer.status).reasonPhrase
            message = "\(name): the registry answered \(answer.status) \(reason)\(details.isEmpty ? "" : ": \(details)")"
        }
        return StrataError(code, message, cause: answer)
    }
}
