import XCTest
@testable import UnmaskServing

/// The two chat formats, recognised from their Jinja text and written by hand; anything
/// else refused with its first line.
final class ChatTemplateTests: XCTestCase {
    // LLaDA-8B-Instruct's tokenizer_config.json chat_template, as published.
    static let llada = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    // Qwen-style ChatML, as Dream-v0-Instruct ships it (default system message).
    static let chatml = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    func testRecognisedAndWritten() throws {
        let messages: [GenerationRequest.Message] = [.init(role: "system", content: " Be brief. "), .init(role: "user", content: "Hi\n")]
        XCTAssertEqual(try ChatTemplate.recognise(Self.llada), .llada)
        XCTAssertEqual(ChatTemplate.llada.render(messages, bos: "<|startoftext|>"),
                       "<|startoftext|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        XCTAssertEqual(try ChatTemplate.recognise(Self.chatml), .chatml)
        XCTAssertEqual(ChatTemplate.chatml.render([.init(role: "user", content: "Hi")], bos: ""),
                       "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(ChatTemplate.chatml.render(messages, bos: ""),
                       "<|im_start|>system\n Be brief. <|im_end|>\n<|im_start|>user\nHi\n<|im_end|>\n<|im_start|>assistant\n")
    }

    // The lines of Qwen3's template (SDAR-4B-Chat's tokenizer_config.json) that decide the
    // text of a chat without tools: per message, and the generation prompt with thinking off.
    static let qwen3 = "{%- for message in messages %}{%- if (message.role == \"user\") %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
    // Fast-dLLM v2's (Qwen2.5's chat_template.jinja), spelt with message.role.
    static let qwen25 = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

    func testQwenTemplatesOfTheBlockFamilies() throws {
        XCTAssertEqual(try ChatTemplate.recognise(Self.qwen3), .qwen3)
        XCTAssertEqual(try ChatTemplate.recognise(Self.qwen25), .chatml)
        let messages: [GenerationRequest.Message] = [.init(role: "user", content: "Hi"),
                                                     .init(role: "assistant", content: "<think>\nhm\n</think>\n\nHello"),
                                                     .init(role: "user", content: "Bye")]
        XCTAssertEqual(ChatTemplate.qwen3.render(messages, bos: ""),
                       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
        XCTAssertEqual(ChatTemplate.qwen3.endOfTurn, "<|im_end|>")
    }

    func testUnknownTemplatesAreRefusedNotGuessed() {
        XCTAssertThrowsError(try ChatTemplate.recognise("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}")) { e in
            XCTAssertTrue("\(e)".contains("unknown chat template \"{% for m in messages %}[INST]"), "\(e)")
        }
    }
}
