#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskSupport

/// Measuring models and samples: the held-out ELBO of a denoiser, the NLL of text under a
/// causal evaluator, generative perplexity and unigram entropy of samples. Every function
/// takes the `Denoiser` and `CausalEvaluator` protocols, so it runs on any model.
public enum Evaluation {
    // Each measurement is a file of its own: CausalNLL.swift, DenoiserELBO.swift,
    // GenerativePerplexity.swift, AutoregressiveSamples.swift; RetokenizedRecipe.swift
    // scores text the way the papers do under GPT-2.
}
