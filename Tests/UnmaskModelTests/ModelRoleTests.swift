import XCTest
@testable import UnmaskModel

final class ModelRoleTests: XCTestCase {
    func testRolesFromConfigsAndBack() throws {
        for role in ModelRole.allCases {
            let c = role.configure(.standard)
            XCTAssertEqual(ModelRole.of(c), role)
            XCTAssertNoThrow(try role.check(c, name: "m"))
            XCTAssertNoThrow(try c.validate())  // a binary head comes untied
            for other in ModelRole.allCases where other != role {
                XCTAssertThrowsError(try other.check(c, name: "m")) { XCTAssertTrue("\($0)".contains("not \(other.withArticle)"), "\($0)") }
            }
        }
        var odd = ModelConfig.standard
        odd.attention = .causal
        odd.head = .binary
        XCTAssertNil(ModelRole.of(odd))
    }

    func testVocabularyPairing() {
        let c = ModelConfig.standard
        XCTAssertNoThrow(try c.checkVocabulary(size: 4096, maskTokenId: 4095, modelName: "m", tokenizerName: "t"))
        XCTAssertThrowsError(try c.checkVocabulary(size: 300, maskTokenId: 299, modelName: "m", tokenizerName: "t"))
        XCTAssertThrowsError(try c.checkVocabulary(size: 4096, maskTokenId: 4094, modelName: "m", tokenizerName: "t"))
    }
}
