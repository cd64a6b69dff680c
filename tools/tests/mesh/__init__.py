"""Tests of the mesh: policy, PKI, tokens, rendered Envoy configs, real traffic."""
