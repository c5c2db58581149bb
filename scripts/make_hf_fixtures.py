"""One-off golden data for Hugging Face model folders: a tiny random-weight model per
family, written by the reference implementation itself, with its float32 logits and loss
on fixed ids. The Swift tests load each folder and must match without Python.

    python3 -m venv scratch/torchenv && scratch/torchenv/bin/pip install torch transformers tokenizers \
        safetensors omegaconf einops huggingface_hub
    git clone https://github.com/kuleshov-group/mdlm /tmp/mdlm     # for the DiT fixture
    scratch/torchenv/bin/python scripts/make_hf_fixtures.py /tmp/mdlm
    git clone https://github.com/kuleshov-group/bd3lms /tmp/bd3lms   # for the block-diffusion fixture
    scratch/torchenv/bin/python scripts/make_hf_fixtures.py --bd3lm /tmp/bd3lms   # bd3lm-tiny only
    scratch/torchenv/bin/python scripts/make_hf_fixtures.py --llada /tmp/llada_ref   # llada-tiny only

A tiny byte-level BPE tokenizer in GPT-2's configuration is trained with `tokenizers` on a
few Austen sentences and saved as the folder's tokenizer.json.

Families so far (the MDLM DiT only when a checkout of the MDLM repository is given;
dream-tiny as described in dream_tiny below; llada-tiny, described in llada_tiny below, only
and alone when --llada names a folder holding LLaDA's modeling_llada.py and
configuration_llada.py):
  gpt2-tiny   transformers.GPT2LMHeadModel (the GPT-2 evaluator family: learned positions,
              LayerNorm with bias, GELU-tanh "gelu_new", biases everywhere, Conv1D weights
              stored (in, out), tied head). Weights drawn with initializer_range 0.2 (the
              default 0.02 would make every logit nearly 0 and the test toothless).

Each folder gets config.json and model.safetensors from save_pretrained, and golden.json:
the transformers version, the ids (batch 2 x 16), the logits (2, 16, vocab) in float32, and
`loss`, transformers' own causal-LM loss with labels = ids (mean NLL of token i+1 given
the tokens up to i). No reference code is copied or vendored: the model comes from the
installed transformers package.
"""
import json
import os

import torch
import transformers

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "UnmaskModelTests", "Fixtures", "hf")


TEXT = """It is a truth universally acknowledged, that a single man in possession of a good fortune,
must be in want of a wife. However little known the feelings or views of such a man may be on his
first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding
families, that he is considered the rightful property of some one or other of their daughters.
"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let
at last?" Mr. Bennet replied that he had not. "But it is," returned she; "for Mrs. Long has just
been here, and she told me all about it." Mr. Bennet made no answer."""

# Samples for the generative-perplexity golden: plain text, one with an end of text in the
# middle (the recipe counts up to and including the first one), one longer than the tiny
# model's context of 32 tokens (scored in chunks).
SAMPLES = [
    "Mr. Bennet made no answer to his lady.",
    "She told me all about it.<|endoftext|>The rest is not counted.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife, and the feelings or views of such a man may be on his first entering a neighbourhood.",
]


def tiny_tokenizer():
    """A byte-level BPE in GPT-2's configuration (no normalizer, ByteLevel pre-tokenizer
    without prefix space, <|endoftext|> the only special), 300 ids, trained by `tokenizers`."""
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers, trainers
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TEXT], trainer=trainer)
    return tok


def gpt2_tiny():
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    config = transformers.GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                     activation_function="gelu_new", layer_norm_epsilon=1e-5,
                                     initializer_range=0.2, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    model = transformers.GPT2LMHeadModel(config).eval()
    # LayerNorms start at (1, 0) and biases at 0; perturb them so the test sees them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias") or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    out = os.path.join(OUT, "gpt2-tiny")
    model.save_pretrained(out, safe_serialization=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    # Generative perplexity by the recipe README documents: each sample's text encoded by
    # the evaluator's tokenizer, cut after its first end of text, scored in chunks of the
    # context (the first token of each chunk has no context and is not scored), corpus
    # level exp(sum NLL / tokens scored).
    nats, count = 0.0, 0
    for text in SAMPLES:
        ids = tok.encode(text).ids
        if eos in ids:
            ids = ids[: ids.index(eos) + 1]
        for start in range(0, len(ids), config.n_positions):
            chunk = torch.tensor([ids[start:start + config.n_positions]])
            if chunk.shape[1] < 2:
                continue
            with torch.no_grad():
                logits = model(chunk).logits.double()
            nll = torch.nn.functional.cross_entropy(logits[0, :-1], chunk[0, 1:], reduction="sum")
            nats += float(nll)
            count += chunk.shape[1] - 1
    with open(os.path.join(out, "samples.jsonl"), "w") as f:
        for text in SAMPLES:
            f.write(json.dumps({"text": text}) + "\n")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, config.vocab_size, (2, 16), generator=g)
    with torch.no_grad():
        result = model(ids, labels=ids)
    golden = {"transformers": transformers.__version__, "torch": torch.__version__,
              "ids": ids.tolist(), "logits": result.logits.float().flatten().tolist(),
              "loss": float(result.loss),
              "gen_ppl": {"samples": "samples.jsonl", "tokens": count, "nats": nats,
                          "perplexity": float(torch.tensor(nats / count).exp())}}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("gpt2-tiny:", os.listdir(out), "loss", golden["loss"])


def install_flash_attn_shim():
    """MDLM's dit.py calls two flash_attn kernels (CUDA only). This stands in for them on the
    CPU with the same contracts: in-place rotary on q and k of a packed qkv (non-interleaved,
    cos/sin of half the head size), and non-causal attention over equal-length sequences."""
    import sys, types
    import torch.nn.functional as F

    def apply_rotary_emb_qkv_(qkv, cos, sin):
        half = cos.shape[-1]
        for part in (0, 1):
            x = qkv[:, :, part]
            x1, x2 = x[..., :half].clone(), x[..., half:2 * half].clone()
            c, s_ = cos[None, :, None, :], sin[None, :, None, :]
            x[..., :half] = x1 * c - x2 * s_
            x[..., half:2 * half] = x1 * s_ + x2 * c
        return qkv

    def flash_attn_varlen_qkvpacked_func(qkv, cu_seqlens, max_seqlen, dropout_p, causal=False):
        total, _, h, d = qkv.shape
        b = total // max_seqlen
        q, k, v = qkv.view(b, max_seqlen, 3, h, d).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return out.permute(0, 2, 1, 3).reshape(total, h, d)

    flash_attn = types.ModuleType("flash_attn")
    layers = types.ModuleType("flash_attn.layers")
    rotary = types.ModuleType("flash_attn.layers.rotary")
    interface = types.ModuleType("flash_attn.flash_attn_interface")
    rotary.apply_rotary_emb_qkv_ = apply_rotary_emb_qkv_
    interface.flash_attn_varlen_qkvpacked_func = flash_attn_varlen_qkvpacked_func
    flash_attn.layers, layers.rotary, flash_attn.flash_attn_interface = layers, rotary, interface
    sys.modules.update({"flash_attn": flash_attn, "flash_attn.layers": layers,
                        "flash_attn.layers.rotary": rotary, "flash_attn.flash_attn_interface": interface})


def mdlm_tiny(mdlm_repo):
    """MDLM's DiT (models/dit.py of github.com/kuleshov-group/mdlm, run from a local checkout
    given on the command line, with the flash_attn stand-in above), in the layout of the
    Hugging Face kuleshov-group/mdlm-owt folder: config.json with model_type "mdlm" and its
    keys, tensors under "backbone.". Random weights, with the zero-initialised adaLN and
    output layers drawn too (otherwise the modulation is the identity and the logits 0)."""
    import subprocess, sys
    import safetensors.torch
    install_flash_attn_shim()
    import importlib.util
    spec = importlib.util.spec_from_file_location("mdlm_dit", os.path.join(mdlm_repo, "models", "dit.py"))
    dit = importlib.util.module_from_spec(spec)  # dit.py alone: models/__init__ pulls in Mamba's CUDA kernels
    spec.loader.exec_module(dit)
    commit = subprocess.run(["git", "-C", mdlm_repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    vocab = tok.get_vocab_size() + 1  # MDLM appends its mask token after the tokenizer's ids
    cfg = {"model": {"hidden_size": 32, "cond_dim": 16, "n_heads": 4, "n_blocks": 2, "dropout": 0.0,
                     "scale_by_sigma": False, "length": 32}}
    model = dit.DIT(cfg, vocab_size=vocab).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if "adaLN" in name or "output_layer" in name else 0.2))
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm_final.weight"):
                p.add_(1.0)
    out = os.path.join(OUT, "mdlm-tiny")
    os.makedirs(out, exist_ok=True)
    state = {"backbone." + k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, os.path.join(out, "model.safetensors"))
    config = {"architectures": ["MDLM"], "model_type": "mdlm", "vocab_size": vocab, "model_length": 32,
              "hidden_dim": 32, "cond_dim": 16, "n_blocks": 2, "n_heads": 4, "dropout": 0.0,
              "time_conditioning": False}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tok.save(os.path.join(out, "tokenizer.json"))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (2, 16), generator=g)
    ids[0, 3:9] = vocab - 1  # masked positions, as a denoiser sees them
    with torch.no_grad():
        logits = model(ids, torch.zeros(2))  # sigma = 0: MDLM without time conditioning
    golden = {"mdlm_commit": commit, "torch": torch.__version__, "ids": ids.tolist(),
              "logits": logits.float().flatten().tolist()}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("mdlm-tiny:", os.listdir(out), "commit", commit)


def dream_tiny():
    """Dream (Dream-org/Dream-v0-Base-7B's architecture): Qwen2 blocks with bidirectional
    attention, and logits shifted so that output i - 1 predicts token i. Dream's own
    modeling code is remote code on the Hugging Face hub (not reachable here), so the
    reference is transformers' Qwen2ForCausalLM, the implementation Dream's code derives
    from, run with attention over every position (eager attention with an all-zero 4D
    additive mask; checked below to differ from the causal run) and the output shifted as
    Dream's sampler does. Grouped-query attention (4 query heads, 2 key/value heads), qkv
    biases, an untied head; the tokenizer is the Qwen2-style fixture (Split pre-tokenizer),
    whose mask token sits at id 1, not at the end."""
    import shutil
    torch.manual_seed(0)
    tok_src = os.path.join(os.path.dirname(OUT), "..", "..", "UnmaskTokenizerTests", "Fixtures", "qwen2_split_tokenizer.json")
    from tokenizers import Tokenizer as HFTokenizer
    tok = HFTokenizer.from_file(tok_src)
    vocab, mask = tok.get_vocab_size(), tok.token_to_id("<|mask|>")
    config = transformers.Qwen2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                      rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                                      initializer_range=0.2, attn_implementation="eager")
    model = transformers.Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith(".bias"):
                p.add_(0.1 * torch.randn_like(p))
    out = os.path.join(OUT, "dream-tiny")
    model.save_pretrained(out, safe_serialization=True)
    shutil.copy(tok_src, os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    cfg.update({"model_type": "Dream", "architectures": ["DreamModel"], "mask_token_id": mask})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (2, 16), generator=g)
    ids[0, 4:10] = mask
    with torch.no_grad():
        full = torch.zeros(2, 1, 16, 16)
        logits = model(ids, attention_mask=full).logits
        causal = model(ids).logits
    assert (logits - causal).abs().max() > 1e-3, "the 4D mask did not make attention bidirectional"
    shifted = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
    golden = {"transformers": transformers.__version__, "torch": torch.__version__, "ids": ids.tolist(),
              "logits": shifted.float().flatten().tolist()}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("dream-tiny:", sorted(os.listdir(out)), "mask", mask)


# LLaDA's modeling code is remote code on the Hugging Face hub (GSAI-ML/LLaDA-8B-Base, not
# reachable here); the copy used comes from public GitHub copies of it. No copy found was
# untouched, so modeling_llada.py is charleschen-ml/pa-dllm@34c6e39's (modeling_llada.py) with
# that fork's own edits undone (its scheduler head, zero "bidirectional" bias, attn_mask
# pass-through and output class), which leaves it line for line chunsanHong/UPO@8084c40's
# copy without UPO's extra head, and zhaoyMa/Saber@2f061e2's without Saber's position_ids.
# configuration_llada.py is blob 3556bdac, identical in chunsanHong/UPO@8084c40, zhaoyMa/Saber
# and imaimonkey/diffusion-related-token-exp-composition. On this fixture the pa-dllm and
# Saber files as they stand give the same logits bit for bit. golden.json records the sha256
# of the two files actually run.
LLADA_REFERENCE = ("GSAI-ML/LLaDA-8B-Base modeling_llada.py + configuration_llada.py, from "
                   "charleschen-ml/pa-dllm@34c6e39480d0f9206f0002bafd8eb0f3793a4d57:modeling_llada.py "
                   "(fork edits reverted; = chunsanHong/UPO@8084c40dd7ff464ed4670db509fbf5881afd30:"
                   "modeling_llada.py minus its extra head) and "
                   "chunsanHong/UPO@8084c40dd7ff464ed4670db509fbf5881afd30:configuration_llada.py (blob 3556bdac)")


def llada_tiny(llada_dir):
    """LLaDA (GSAI-ML/LLaDA-8B-Base's architecture), run by LLaDA's own modeling_llada.py
    (LLaDAModelLM) from the folder given with --llada, which must also hold
    configuration_llada.py (see LLADA_REFERENCE above for where the copy comes from).
    "llama" blocks: RMSNorm (eps from rms_norm_eps), separate q/k/v projections, rotary
    embeddings with rope_theta 500000, attention over every position (the code calls SDPA
    with is_causal=False and no mask; checked below: changing the last token moves the first
    position's logits), SiLU(ff_proj x) * up_proj x through ff_out, no biases, an untied head,
    logits not shifted. Tiny but with grouped-query attention (4 query heads, 2 key/value
    heads: the code supports it though LLaDA-8B has 32/32). config.json carries the keys
    of LLaDA-8B-Base's own config.json, with tiny sizes; tensors under "model.transformer."
    as LLaDAModelLM's state_dict names them. Weights drawn with std 0.2, norm weights
    1 + 0.1 randn. The tokenizer is the Llama-3-style fixture (Split pre-tokenizer), whose
    mask token <|mask|> sits at id 1 (LLaDA's own, <|mdm_mask|>, is id 126336 of 126464)."""
    import hashlib, shutil, sys, types, importlib
    import safetensors.torch
    from tokenizers import Tokenizer as HFTokenizer
    llada_dir = os.path.abspath(llada_dir)
    # Importable both as the hub's package (relative import of configuration_llada) and as
    # the GitHub copies have it (absolute import).
    sys.path.insert(0, llada_dir)
    pkg = types.ModuleType("llada_ref")
    pkg.__path__ = [llada_dir]
    sys.modules["llada_ref"] = pkg
    modeling = importlib.import_module("llada_ref.modeling_llada")
    sha = {name: hashlib.sha256(open(os.path.join(llada_dir, name), "rb").read()).hexdigest()
           for name in ("modeling_llada.py", "configuration_llada.py")}
    torch.manual_seed(0)
    tok_src = os.path.join(os.path.dirname(OUT), "..", "..", "UnmaskTokenizerTests", "Fixtures", "llama3_split_tokenizer.json")
    tok = HFTokenizer.from_file(tok_src)
    vocab, mask, eos = tok.get_vocab_size(), tok.token_to_id("<|mask|>"), tok.token_to_id("<|endoftext|>")
    # LLaDA-8B-Base's config.json, key for key, with tiny sizes (there: d_model 4096, 32 heads,
    # 32 kv heads, 32 layers, mlp_hidden_size 12288, vocab/embedding 126464, max_sequence_length
    # 4096, eos = pad 126081, mask 126336).
    config = {
        "activation_type": "silu", "alibi": False, "alibi_bias_max": 8.0, "architectures": ["LLaDAModelLM"],
        "attention_dropout": 0.0, "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
        "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig",
                     "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
                     "AutoModel": "modeling_llada.LLaDAModelLM"},
        "bias_for_layer_norm": False, "block_group_size": 1, "block_type": "llama", "d_model": 32,
        "embedding_dropout": 0.0, "embedding_size": vocab, "eos_token_id": eos, "flash_attention": False,
        "include_bias": False, "include_qkv_bias": False, "init_cutoff_factor": None, "init_device": "meta",
        "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": False, "layer_norm_type": "rms",
        "layer_norm_with_affine": True, "mask_token_id": mask, "max_sequence_length": 64, "mlp_hidden_size": 64,
        "mlp_ratio": 4, "model_type": "llada", "multi_query_attention": None, "n_heads": 4, "n_kv_heads": 2,
        "n_layers": 2, "pad_token_id": eos, "precision": "amp_bf16", "residual_dropout": 0.0, "rms_norm_eps": 1e-05,
        "rope": True, "rope_full_precision": True, "rope_theta": 500000.0, "scale_logits": False,
        "transformers_version": transformers.__version__, "use_cache": False, "vocab_size": vocab, "weight_tying": False,
    }
    from dataclasses import fields
    missing = {f.name for f in fields(modeling.ModelConfig)} - set(config)
    assert not missing, f"ModelConfig fields not in config.json: {missing}"
    kwargs = {k: v for k, v in config.items() if k not in ("auto_map", "model_type", "transformers_version")}
    model = modeling.LLaDAModelLM(modeling.LLaDAConfig(**kwargs), init_params=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1 + 0.1 * torch.randn_like(p) if "norm" in name or "ln_f" in name else 0.2 * torch.randn_like(p))
    out = os.path.join(OUT, "llada-tiny")
    os.makedirs(out, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.copy(tok_src, os.path.join(out, "tokenizer.json"))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (2, 16), generator=g)
    ids[0, 4:10] = mask
    ids[1, 11:14] = mask
    with torch.no_grad():
        # use_cache / return_dict given: transformers 5 keeps no use_cache on the config.
        logits = model(ids, use_cache=False, return_dict=True).logits
        moved = ids.clone()
        moved[:, -1] = (moved[:, -1] + 1) % vocab
        other = model(moved, use_cache=False, return_dict=True).logits
    assert logits.shape == (2, 16, vocab)
    assert (logits[:, 0] - other[:, 0]).abs().max() > 1e-3, "attention is not bidirectional"
    golden = {"reference": LLADA_REFERENCE, "sha256": sha, "transformers": transformers.__version__,
              "torch": torch.__version__, "ids": ids.tolist(), "logits": logits.float().flatten().tolist()}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("llada-tiny:", sorted(os.listdir(out)), "mask", mask, {k: tuple(v.shape) for k, v in state.items()})


def bd3lm_tiny(repo):
    """BD3-LM (models/hf/modeling_bd3lm.py of github.com/kuleshov-group/bd3lms, imported from
    a local checkout given on the command line), in the layout of the Hugging Face
    kuleshov-group/bd3lm-owt-block_size* folders: config.json with model_type "bd3lm" and its
    keys, the model's own state_dict (tensors under "backbone." and the sampling_eps_min/max
    buffers). Blocks of 4, model_length 16, random weights with the zero-initialised adaLN
    and output layers drawn too. Two goldens: the training layout (x_t ⊕ x_0, 2 × 32 ids,
    logits of the noisy half) and sample mode without a cache (a 12-token prefix: two clean
    blocks and a noisy one), both at σ = 0 in float32, attention by SDPA on the CPU."""
    import importlib.util, subprocess, sys
    import safetensors.torch
    hf = os.path.join(repo, "models", "hf")
    spec = importlib.util.spec_from_file_location("bd3lm_hf", os.path.join(hf, "__init__.py"), submodule_search_locations=[hf])
    package = importlib.util.module_from_spec(spec)
    sys.modules["bd3lm_hf"] = package
    spec.loader.exec_module(package)
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    vocab = tok.get_vocab_size() + 1  # the mask appended after the tokenizer's ids, as for MDLM
    config = package.BD3LMConfig(block_size=4, vocab_size=vocab, model_length=16, hidden_dim=32, cond_dim=16, n_blocks=2,
                                 n_heads=4, dropout=0.0, attn_backend="sdpa", adaln=True, cross_attn=True,
                                 time_conditioning=False, var_min=True, sampling_eps_min=0.3, sampling_eps_max=0.8,
                                 return_dict=False)
    model = package.BD3LM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if "adaLN" in name or "output_layer" in name else 0.2))
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm_final.weight"):
                p.add_(1.0)
    out = os.path.join(OUT, "bd3lm-tiny")
    os.makedirs(out, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, os.path.join(out, "model.safetensors"))
    config.architectures = ["BD3LM"]
    config.save_pretrained(out)
    tok.save(os.path.join(out, "tokenizer.json"))
    g = torch.Generator().manual_seed(2)
    clean = torch.randint(0, vocab - 1, (2, 16), generator=g)
    noisy = clean.clone()
    noisy[0, 1:7] = vocab - 1
    noisy[1, 9:12] = vocab - 1
    noisy[1, 14] = vocab - 1
    sigma = torch.zeros(2)
    with torch.no_grad():
        layout = model(torch.cat([noisy, clean], dim=1), sigma)
        prefix = torch.cat([clean[:, :8], noisy[:, 8:12]], dim=1)
        sampled = model(prefix, sigma, sample_mode=True)
    layout = layout[0] if isinstance(layout, tuple) else layout
    sampled = sampled[0] if isinstance(sampled, tuple) else sampled
    golden = {"bd3lms_commit": commit, "torch": torch.__version__, "noisy": noisy.tolist(), "clean": clean.tolist(),
              "layout_logits": layout.float().flatten().tolist(), "prefix": prefix.tolist(),
              "prefix_logits": sampled.float().flatten().tolist()}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("bd3lm-tiny:", sorted(os.listdir(out)), "commit", commit, tuple(layout.shape), tuple(sampled.shape))


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("mdlm", nargs="?", help="a checkout of github.com/kuleshov-group/mdlm (adds mdlm-tiny)")
    parser.add_argument("--bd3lm", metavar="CHECKOUT", help="a checkout of github.com/kuleshov-group/bd3lms: writes bd3lm-tiny only")
    parser.add_argument("--llada", metavar="DIR", help="a folder with LLaDA's modeling_llada.py and "
                        "configuration_llada.py: writes llada-tiny only")
    args = parser.parse_args()
    if args.bd3lm:
        bd3lm_tiny(args.bd3lm)
    elif args.llada:
        llada_tiny(args.llada)
    else:
        gpt2_tiny()
        dream_tiny()
        if args.mdlm:
            mdlm_tiny(args.mdlm)
