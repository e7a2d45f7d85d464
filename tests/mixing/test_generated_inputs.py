"""Generated malformed and edge-case inputs for every mixer and two chains: a correct result or a named error."""

# Every outcome must be either a correct result (shape and dtype kept, label rows that sum to 1, finite where the
# input was finite, binary-mask pixels bit-identical to their source, the call equal to sample_params + apply) or a
# TypeError / ValueError whose message names an invalid argument; valid input must give a result.
# SG_GENERATED_EXAMPLES=300 pytest -s tests/mixing/test_generated_inputs.py prints the counts per mixer.

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import saliency_grafting as sg
from tests.mixing.generated import Case, cases, constructor_cases

NAMES = [*sorted(sg.MIXERS), "cutout+mixup", "cutout+manifold_mixup"]
K = 10
EXAMPLES = int(os.environ.get("SG_GENERATED_EXAMPLES", "40"))
COUNTS: dict[str, Counter] = {name: Counter() for name in NAMES}


@pytest.fixture(scope="module", autouse=True)
def _print_counts() -> Iterator[None]:
    yield
    print("\nmixer                  tried  results  named errors (calls)  | ctor tried  ctor errors  wrong kind")
    for name, c in COUNTS.items():
        print(
            f"{name:22} {c['tried']:6} {c['ok']:8} {c['error']:21}  | {c['ctor']:10} {c['ctor_error']:11}  {c['wrong']}"
        )


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits, so that equality holds for NaN and tells -0.0 from 0.0."""
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def _named(err: Exception, names: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(n)}\b", str(err)) for n in names)


def _check_result(mixer: sg.Mixer, case: Case, params: sg.MixParams, mixed: torch.Tensor, soft: torch.Tensor) -> None:
    images, labels = case.images, case.labels
    assert isinstance(mixed, torch.Tensor) and mixed.shape == images.shape and mixed.dtype == images.dtype
    batch = images.shape[0]
    expected = labels.dtype if labels.ndim == 2 and labels.is_floating_point() else torch.float32
    assert soft.shape == (batch, K) and soft.dtype == expected
    assert torch.isfinite(soft).all() and (soft >= 0).all()
    torch.testing.assert_close(soft.double().sum(1), torch.ones(batch, dtype=torch.float64), atol=1e-4, rtol=0)
    lam = params.lam.float()
    assert lam.shape == (batch,) and torch.isfinite(lam).all() and ((lam >= 0) & (lam <= 1)).all()
    perm = params.perm
    if torch.isfinite(images).all():
        assert torch.isfinite(mixed).all(), "finite input gave a non-finite result"
    elif case.bad_image is not None:  # samples that do not pair with the bad image stay finite
        clean = (torch.arange(batch) != case.bad_image) & (perm.cpu() != case.bad_image)
        assert torch.isfinite(mixed[clean]).all(), "a NaN/inf pixel leaked into a sample of two finite images"
    stages = params.stages if isinstance(params, sg.mixing.ChainParams) else (params,)
    owners = mixer.stages if isinstance(mixer, sg.Chain) else [mixer]
    if len(stages) == 1 and owners[0].binary_mask and params.mask is not None:
        keep = params.mask.bool().expand_as(images)
        if isinstance(mixer, sg.mixing.Masking):
            partner = torch.zeros((), dtype=images.dtype).copysign(images)
        else:
            partner = images.index_select(0, perm)
        assert torch.equal(_bits(mixed), _bits(torch.where(keep, images, partner))), "a pixel is not its source's"


def run_case(name: str, case: Case) -> str:
    """``"ok"`` or ``"error"`` (a TypeError / ValueError naming an invalid argument); fails on anything else."""
    mixer = sg.create_mixer(name, K, **({"workers": 1} if name == "puzzlemix" else {}))
    invalid = case.invalid(mixer)
    try:
        if case.perm is None:
            call = mixer(case.images, case.labels, case.saliency, generator=case.generator(0))
        params = mixer.sample_params(
            case.images, case.labels, case.saliency, generator=case.generator(1), perm=case.perm
        )
        mixed, soft = mixer.apply(case.images, case.labels, params)
    except (TypeError, ValueError) as err:
        assert invalid, f"valid input was refused: {err!r}"
        assert _named(err, invalid), f"the error does not name any of {sorted(invalid)}: {err!r}"
        assert str(err).startswith(f"{type(mixer).__name__}: ") or "create_mixer" in str(err), str(err)
        return "error"
    assert not invalid, f"invalid {sorted(invalid)} was accepted"
    if case.perm is None:  # the call is sample_params + apply with the same draws
        assert torch.equal(_bits(call[0]), _bits(mixed)) and torch.equal(call[1], soft)
    _check_result(mixer, case, params, mixed, soft)
    return "ok"


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_call_gives_a_correct_result_or_a_named_error(name: str, data: st.DataObject) -> None:
    case = data.draw(cases(name, K))
    COUNTS[name]["tried"] += 1
    try:
        outcome = run_case(name, case)
    except Exception:
        COUNTS[name]["wrong"] += 1  # a crash of the wrong kind, a wrong result or an unnamed error: the test fails
        raise
    COUNTS[name][outcome] += 1


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_constructor_argument_is_checked(name: str, data: st.DataObject) -> None:
    kwargs, bad, expected = data.draw(constructor_cases(name))
    COUNTS[name]["ctor"] += 1
    if bad is None:
        mixer = sg.create_mixer(name, **kwargs)
        assert isinstance(mixer, sg.Mixer)
        return
    with pytest.raises((TypeError, ValueError)) as info:
        sg.create_mixer(name, **kwargs)
    assert info.type is expected, f"{bad}={kwargs.get(bad)!r}: {info.type.__name__} {info.value}"
    assert _named(info.value, {bad}), f"the error does not name {bad!r}: {info.value}"
    COUNTS[name]["ctor_error"] += 1
