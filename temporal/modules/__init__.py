"""Building blocks of MMN: clip feature pool, masked proposal conv stack, text encoder."""
from .featpool import FeaturePool
from .proposal_conv import ProposalConv, propagate_mask
from .text_encoder import TextEncoder, build_tokenizer

__all__ = ["FeaturePool", "ProposalConv", "propagate_mask", "TextEncoder", "build_tokenizer"]
