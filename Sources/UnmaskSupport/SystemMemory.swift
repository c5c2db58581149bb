#if canImport(Glibc)
import Glibc
#endif

/// Physical memory of this machine in bytes (0 if the system does not say): what the
/// memory checks compare a `MemoryEstimate` with before a model is packed or a step runs.
public func physicalMemoryBytes() -> Int {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
    return pages > 0 && size > 0 ? pages * size : 0
}
