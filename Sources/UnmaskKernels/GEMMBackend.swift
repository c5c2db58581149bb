/// Which implementation multiplies matrices: ours, or OpenBLAS (the reference we measure against).
public enum GEMMBackend: String, Sendable, CaseIterable {
    case unmask
    case openblas
}
