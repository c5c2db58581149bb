import XCTest
@testable import UnmaskKernels

/// The heap policy (heap.c) is worth ~20% of training throughput, and it was once silently
/// compiled out by a preprocessor test that could never be true; nothing else would notice.
final class HeapPolicyTests: XCTestCase {
    func testHeapPolicyIsAppliedOnGlibc() {
        #if canImport(Glibc)
        XCTAssertTrue(keepFreedHeapMemory(), "mallopt was not called: heap.c's glibc branch is compiled out")
        #else
        XCTAssertFalse(keepFreedHeapMemory())
        #endif
    }
}
