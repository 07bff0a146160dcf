/// Chain IDs (image-spec config.md, "Layer ChainID"): the identity of a layer *with* everything
/// below it, so a layer unpacked over a given stack is keyed once and shared.
public enum ChainID {
    public static func compute(_ diffIDs: [Digest]) -> [Digest] {
        var chain: [Digest] = []
        chain.reserveCapacity(diffIDs.count)
        for diff in diffIDs {
            if let below = chain.last {
                chain.append(Digest.sha256(of: Array("\(below) \(diff)".utf8)))
            } else {
                chain.append(diff)
            }
        }
        return chain
    }
}
