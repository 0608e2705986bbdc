"""The sampled-verification job (抽样机读检验) for the console and the command line."""

from __future__ import annotations
