/// Names (groups, topics, broker labels) as small integers, for keys that are hashed and compared on every
/// frame: a key of ids hashes four words and is copied without touching a reference count, where a key of
/// Strings hashed every byte of its names and retained each of them per copy.
struct NameTable: Sendable {
    private var ids: [String: Int32] = [:]
    private(set) var names: [String] = []

    /// The id of `name`, made on first sight.
    mutating func id(_ name: String) -> Int32 {
        if let i = ids[name] { return i }
        let i = Int32(names.count)
        names.append(name)
        ids[name] = i
        return i
    }

    subscript(id: Int32) -> String { names[Int(id)] }
}
