extension StringProtocol {
    /// Without the spaces and tabs around it (HTTP's optional whitespace in header values).
    var trimmingBlanks: String {
        let isBlank = { (character: Character) in character == " " || character == "\t" }
        guard let first = self.firstIndex(where: { !isBlank($0) }), let last = self.lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
