// `import Unmask` gives the whole library; each layer is also a module of its own
// (`import UnmaskTokenizer`, ...) for packages that need only a part.
@_exported import UnmaskSupport
@_exported import UnmaskTokenizer
@_exported import UnmaskKernels
@_exported import UnmaskModel
@_exported import UnmaskDiffusion
@_exported import UnmaskSteering
@_exported import UnmaskGeneration
@_exported import UnmaskServing
@_exported import UnmaskTraining
@_exported import UnmaskEvaluation
