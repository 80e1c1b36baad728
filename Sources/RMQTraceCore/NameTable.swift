/// Names (groups, topics, broker labels) as small integers, for keys that are hashed and compared on every
/// frame: a key of ids hashes four words and is copied without touching a reference count, where a key of
/// Strings hashed every byte of its names and retained each of them per copy.
///
/// Bounded: past `limit` names a new one gets no id (its user counts it as not tracked), so a capture full of
/// distinct names cannot grow the table beyond what the configuration allows.
struct NameTable: Sendable {
    private var ids: [String: Int32] = [:]
    private(set) var names: [String] = []
    let limit: Int

    init(limit: Int) { self.limit = max(1, min(limit, Int(Int32.max))) }

    /// The id of `name`, made on first sight; nil for a new name once `limit` names are known.
    mutating func id(_ name: String) -> Int32? {
        if let i = ids[name] { return i }
        guard names.count < limit else { return nil }
        let i = Int32(names.count)
        names.append(name)
        ids[name] = i
        return i
    }

    subscript(id: Int32) -> String { names[Int(id)] }
}
