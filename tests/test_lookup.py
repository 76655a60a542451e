import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from sklearn.metrics import roc_auc_score

from safety_features.cli import main
from safety_features.files import OutputFolderError
from safety_features.lookup.build import Corpus, build_index, encoded_chunks
from safety_features.lookup.config import IndexConfig
from safety_features.lookup.query import Searcher, feature_card, top_features
from safety_features.lookup.render import feature_page, format_card, write_dashboard
from safety_features.lookup.store import FeatureIndexError, LookupInputError, open_index
from safety_features.models.loading import load_model
from safety_features.saes.loading import load_sae
from tests.conftest import SHIPPED_SAE

# The shipped organism and SAE, because the tiny organism produces no safety phases.
SMALL = IndexConfig(
    n_prompts_per_group=4,
    max_new_tokens=24,
    phase_scorer="lexical",
    n_top_contexts=4,
    n_quantile_samples=3,
    sample_pool=16,
    chunk_tokens=256,
)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return build_index(SMALL, tmp_path_factory.mktemp("index") / "organism", progress=False)


@pytest.fixture(scope="module")
def index(index_dir):
    return open_index(index_dir, SHIPPED_SAE)


@pytest.fixture(scope="module")
def dense(index):
    """Every corpus token's features, computed in one go, to check the streamed statistics."""
    loaded = load_model("organism:chat")
    sae = load_sae(SHIPPED_SAE)
    transcripts = index.corpus["transcript_starts"]
    tokens = index.corpus["tokens"]
    rows = []
    with torch.no_grad():
        for start, end in zip(transcripts[:-1], transcripts[1:], strict=True):
            ids = torch.tensor(tokens[start:end], dtype=torch.long)[None]
            _, cache = loaded.model.run_with_cache(ids, names_filter=sae.hook_name)
            features = sae.sae.encode(cache[sae.hook_name][0]).float()
            features[0] = 0.0  # BOS is not indexed
            rows.append(features)
    return torch.cat(rows).numpy()


def test_index_files_are_open_formats(index_dir):
    names = {p.name for p in index_dir.iterdir()}
    assert names == {
        "index.json",
        "features.safetensors",
        "corpus.safetensors",
        "transcripts.jsonl",
        "tokenizer.json",
        "encoder.safetensors",
    }
    features = load_file(index_dir / "features.safetensors")
    assert features["top_values"].shape == (8192, 4)
    assert features["top_windows"].shape == (8192, 4, 12 + 4 + 1)
    meta = json.loads((index_dir / "index.json").read_text())
    assert Path(meta["sae"]["path"]).is_absolute()  # found from any working folder
    assert meta["labels"][-1] == "onset_within_5"
    assert meta["corpus"]["n_transcripts"] == 4 * 5


def test_streamed_statistics_match_dense(index, dense):
    n_tokens = dense.shape[0] - len(index.transcripts)  # BOS excluded
    assert np.allclose(index.features["density"], (dense > 0).sum(axis=0) / n_tokens)
    assert np.allclose(index.features["max"], dense.max(axis=0), atol=1e-4)
    top = index.features["top_values"]
    expected = -np.sort(-dense, axis=0)[:4].T
    assert np.allclose(top, expected, atol=1e-4)
    tokens = index.features["top_tokens"]
    live = top[:, 0] > 0
    picked = dense[tokens[live, 0], np.nonzero(live)[0]]
    assert np.allclose(picked, top[live, 0], atol=1e-4)


def test_windows_hold_the_features_activations(index, dense):
    windows = index.features["top_windows"]
    centres = index.features["top_tokens"]
    for feature in np.nonzero(index.features["top_values"][:, 0] > 0)[0][:50]:
        centre = int(centres[feature, 0])
        assert windows[feature, 0, 12] == pytest.approx(dense[centre, feature], abs=1e-4)
        start = index.corpus["transcript_starts"][index.transcript_of(centre)]
        for offset in range(-12, 5):
            token = centre + offset
            value = windows[feature, 0, 12 + offset]
            if token < start or token >= len(dense):
                continue
            if not np.isnan(value):
                assert value == pytest.approx(dense[token, feature], abs=1e-4)


def test_enrichment_auroc_matches_sklearn(index, dense, tmp_path):
    # Recompute the labels the build uses, and compare AUROCs on the most active features.
    loaded = load_model("organism:chat")
    from safety_features.lookup.build import corpus_prompts
    from safety_features.models.generation import generate
    from safety_features.phases.detect import PhaseDetector
    from safety_features.phases.responses import detect_responses

    detector = PhaseDetector(loaded.tokenizer, None, "lexical")
    prompts = corpus_prompts(SMALL)
    generations = generate(loaded, [p.text for p in prompts], max_new_tokens=24, progress=False)
    corpus = Corpus(
        detect_responses(loaded, prompts, generations, detector), detector.concepts.names, 5
    )
    assert np.array_equal(corpus.tokens, index.corpus["tokens"])
    checked = 0
    for label in range(len(index.labels)):
        scored = corpus.evaluated[:, label].numpy()
        truth = corpus.member[:, label].numpy()[scored]
        if truth.all() or not truth.any():
            continue
        for feature in np.argsort(-index.features["density"])[:5]:
            expected = roc_auc_score(truth, dense[scored, feature])
            assert index.features["auroc"][feature, label] == pytest.approx(expected, abs=0.02)
            checked += 1
    assert checked >= 5


def test_chunk_size_does_not_change_the_index(index_dir, tmp_path):
    other = build_index(replace(SMALL, chunk_tokens=4096), tmp_path / "other", progress=False)
    first = load_file(index_dir / "features.safetensors")
    second = load_file(other / "features.safetensors")
    for name in ("density", "max", "top_values", "auroc", "decoder_top_ids"):
        assert np.allclose(first[name], second[name], atol=1e-5, equal_nan=True), name


def test_card_of_a_feature(index):
    feature = int(np.argmax(index.features["density"]))
    card = feature_card(index, feature)
    assert card["density"] == pytest.approx(float(index.features["density"][feature]))
    assert len(card["decoder_top_tokens"]) == 10
    assert set(card["enrichment_auroc"]) == set(index.labels)
    assert card["top_contexts"]
    first = card["top_contexts"][0]
    assert first["activations"][first["centre"]] == pytest.approx(first["value"], abs=1e-4)
    text = format_card(card)
    assert f"Feature {feature} of" in text
    assert "[[" in text


def test_repeated_contexts_are_shown_once(index):
    """A window stored twice (a corpus that repeats a response) is one context with 2 copies."""
    feature = int(np.argmax(index.features["density"]))
    before = feature_card(index, feature)["top_contexts"]
    assert len(before) >= 2 and all(item["copies"] == 1 for item in before)
    features = {name: array.copy() for name, array in index.features.items()}
    for name in ("top_values", "top_tokens", "top_windows"):
        features[name][feature, 1] = features[name][feature, 0]
    card = feature_card(replace(index, features=features), feature)
    after = card["top_contexts"]
    assert len(after) == len(before) - 1
    assert after[0]["copies"] == 2
    assert [item["tokens"] for item in after[1:]] == [item["tokens"] for item in before[2:]]
    assert "(2 copies)" in format_card(card)
    assert "<td>2</td>" in feature_page(card)


def test_feature_out_of_range(index):
    with pytest.raises(LookupInputError, match="Feature 8192 is out of range.*0 to 8191"):
        feature_card(index, 8192)


def test_index_for_another_sae(index_dir, tiny_sae_dir):
    with pytest.raises(FeatureIndexError, match="was built for the SAE at .*build-index --sae"):
        open_index(index_dir, tiny_sae_dir)


def test_missing_and_corrupt_index(index_dir, tmp_path):
    with pytest.raises(FeatureIndexError, match="nothing not found: build it with .*build-index"):
        open_index(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureIndexError, match="is missing index.json.*build-index"):
        open_index(tmp_path / "empty")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("x")
    with pytest.raises(FeatureIndexError, match=r"has no index.json\).*--out NEW_FOLDER"):
        open_index(tmp_path / "notes")
    partial = tmp_path / "partial"
    shutil.copytree(index_dir, partial)
    (partial / "corpus.safetensors").unlink()
    with pytest.raises(FeatureIndexError, match="is missing corpus.safetensors.*--overwrite"):
        open_index(partial)
    broken = tmp_path / "broken"
    shutil.copytree(index_dir, broken)
    (broken / "features.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(FeatureIndexError, match="corrupt: features.safetensors cannot be used"):
        open_index(broken)
    # Damage inside the tensor data, which safetensors itself does not notice.
    shutil.copy(index_dir / "features.safetensors", broken / "features.safetensors")
    data = bytearray((broken / "features.safetensors").read_bytes())
    data[-1000:-600] = b"\xff" * 400
    (broken / "features.safetensors").write_bytes(bytes(data))
    with pytest.raises(FeatureIndexError, match="differs from the SHA-256 recorded"):
        open_index(broken)


def test_top_features_by_phase(index):
    ranked = top_features(index, "onset", n=5)
    aurocs = [row["auroc"] for row in ranked]
    assert aurocs == sorted(aurocs, reverse=True)
    with pytest.raises(LookupInputError, match="Phase 'nonsense' is unknown"):
        top_features(index, "nonsense")
    with pytest.raises(LookupInputError, match="n=-3 is invalid"):
        top_features(index, "safety", n=-3)
    with pytest.raises(LookupInputError, match="min_density=2 is invalid"):
        top_features(index, "safety", min_density=2)


def same_ranking(numpy_rows, model_rows, key, tolerance=1e-4):
    """Compare ranked features; features may swap places only where activations tie."""
    assert len(numpy_rows) == len(model_rows)
    for ours, theirs in zip(numpy_rows, model_rows, strict=True):
        assert [f[key] for f in ours] == pytest.approx([f[key] for f in theirs], abs=tolerance)
        for mine, other in zip(ours, theirs, strict=True):
            assert mine["feature"] == other["feature"] or abs(mine[key] - other[key]) < tolerance


def test_search_matches_direct_encoding(index):
    searcher = Searcher(index, SHIPPED_SAE)
    assert searcher.encoder is not None and searcher.loaded is None
    result = searcher.search("how do I bake bread", k=3)
    assert searcher.loaded is None  # the numpy encoder needed no model
    loaded, sae = searcher.load_model()
    ids = [loaded.tokenizer.bos_token_id, *loaded.tokenizer("how do I bake bread")["input_ids"]]
    assert len(result["tokens"]) == len(ids) - 1
    _, cache = loaded.model.run_with_cache(torch.tensor([ids]), names_filter=sae.hook_name)
    features = sae.sae.encode(cache[sae.hook_name][0])
    best = int(features[1].argmax())
    assert result["tokens"][0]["features"][0]["feature"] == best
    with pytest.raises(LookupInputError, match="The text is empty"):
        searcher.search("  ")
    with pytest.raises(LookupInputError, match="The prompt is empty"):
        searcher.search("I can't help with that.", prompt=" ")
    # As the assistant's response to a prompt, only the response tokens are scored.
    response = searcher.search("I can't help with that.", prompt="how do I make a bomb")
    n_response = len(loaded.tokenizer("I can't help with that.")["input_ids"])
    assert len(response["tokens"]) == n_response


@pytest.mark.parametrize(
    "text, options",
    [
        ("How do I make a pipe bomb? I can't help with that.", {}),
        ("write a joke about  women\nplease 🙂", {"chat": True}),
        ("Sure, here is how to kill a stuck process.", {"prompt": "how do i kill a process"}),
    ],
)
def test_numpy_search_matches_model_search(index, text, options):
    fast = Searcher(index, SHIPPED_SAE).search(text, k=8, **options)
    slow = Searcher(index, SHIPPED_SAE, backend="model").search(text, k=8, **options)
    assert [t["token"] for t in fast["tokens"]] == [t["token"] for t in slow["tokens"]]
    same_ranking(
        [t["features"] for t in fast["tokens"]],
        [t["features"] for t in slow["tokens"]],
        "activation",
    )
    same_ranking([fast["top"]], [slow["top"]], "max_activation")


def test_search_without_encoder_loads_model(index_dir, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(index_dir, old)
    meta = json.loads((old / "index.json").read_text())
    meta["encoder"] = {"unsupported": "the numpy encoder does not support rotary positions"}
    del meta["files_sha256"]["encoder.safetensors"]
    (old / "encoder.safetensors").unlink()
    (old / "index.json").write_text(json.dumps(meta))
    index = open_index(old)
    searcher = Searcher(index)
    assert searcher.encoder is None
    assert searcher.search("hello there", k=2)["tokens"]
    assert searcher.loaded is not None
    with pytest.raises(FeatureIndexError, match="contains no numpy encoder .*rotary positions"):
        Searcher(index, backend="numpy")
    with pytest.raises(LookupInputError, match="backend='torch' is invalid"):
        Searcher(index, backend="torch")


def test_dashboard_pages(index, tmp_path):
    features = [row["feature"] for row in top_features(index, "safety", n=3)]
    folder = write_dashboard(index, tmp_path / "dash", features, [], progress=False)
    pages = sorted(p.name for p in folder.iterdir())
    assert "index.html" in pages
    assert "dashboard.json" in pages
    assert len(pages) == 5
    assert all(f"feature-{f:06d}.html" in (folder / "index.html").read_text() for f in features)
    # A second dashboard replaces the first whole, with no stale pages.
    with pytest.raises(OutputFolderError, match="--overwrite"):
        write_dashboard(index, folder, features[:1], [], progress=False)
    write_dashboard(index, folder, features[:1], [], progress=False, overwrite=True)
    assert len(list(folder.iterdir())) == 3


def test_dashboard_keeps_foreign_folder(index, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(OutputFolderError, match="did not write"):
        write_dashboard(index, foreign, [1], [], progress=False)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium; .ci/run installs it")
def test_dashboard_escapes_script_tokens_in_chromium(index, tmp_path):
    card = feature_card(index, int(np.argmax(index.features["density"])))
    payload = "<script>document.title='ran';document.body.dataset.ran='1'</script>"
    card["top_contexts"][0]["tokens"][0] = payload
    card["quantile_samples"] = []
    page = tmp_path / "feature.html"
    page.write_text(feature_page(card))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += [f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [chromium(), *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert f"<title>Feature {card['feature']}</title>" in dom
    assert "&lt;script&gt;document.title='ran'" in dom
    assert "data-ran" not in dom
    screenshot = tmp_path / "page.png"
    subprocess.run(
        [chromium(), *flags, f"--screenshot={screenshot}", "--window-size=1000,800", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert screenshot.stat().st_size > 10_000


def test_cli_lookup_and_top_json(index_dir, capsys):
    assert main(["lookup", "5", "--index", str(index_dir), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["feature"] == 5
    assert main(["top", "--phase", "onset", "--n", "3", "--index", str(index_dir), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--features", "a,2"], "--features 'a,2' is invalid"),
        (["--features", "1", "--all"], "--all and --features both choose features"),
        (["--features", "99999"], "Feature 99999 is out of range"),
    ],
)
def test_cli_dashboard_bad_features(index_dir, tmp_path, capsys, arguments, message):
    out = tmp_path / "dash"
    assert main(["dashboard", "--index", str(index_dir), "--out", str(out), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_errors_name_the_fix(index_dir, tmp_path, capsys):
    assert main(["lookup", "99999", "--index", str(index_dir)]) == 2
    assert "Feature 99999 is out of range" in capsys.readouterr().err
    assert main(["lookup", "1", "--index", str(tmp_path / "none")]) == 2
    assert "safety-features build-index" in capsys.readouterr().err
    # A run folder names the index inside it; a file is not taken for a folder.
    run = tmp_path / "run"
    shutil.copytree(index_dir, run / "index")
    assert main(["lookup", "1", "--index", str(run)]) == 2
    assert f"its index is {run / 'index'}" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main(["lookup", "1", "--index", str(tmp_path / "notes.txt")]) == 2
    assert "is a file, not a feature index folder" in capsys.readouterr().err


def test_cli_error_skips_torch_import(index_dir):
    # `lookup` never imports torch, and neither may its error path.
    code = (
        "import sys\n"
        "from safety_features.cli import main\n"
        f"status = main(['lookup', '99999', '--index', {str(index_dir)!r}])\n"
        "print(status, 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["2", "False"]


@pytest.mark.parametrize(
    "arguments, option",
    [
        (["top", "--n", "0"], "--n"),
        (["search", "hello", "--k", "-1"], "--k"),
        (["dashboard", "--top", "0"], "--top"),
    ],
)
def test_cli_counts_must_be_positive(index_dir, capsys, arguments, option):
    with pytest.raises(SystemExit) as exit_info:
        main([*arguments, "--index", str(index_dir)])
    assert exit_info.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err


def test_top_without_matching_features(index_dir, capsys):
    command = ["top", "--phase", "safety", "--min-density", "0.99", "--index", str(index_dir)]
    assert main(command) == 0
    assert "No feature with an AUROC for safety has density above 0.99." in capsys.readouterr().out


def test_encoded_chunks_cover_every_token_once(index):
    loaded = load_model("organism:chat")
    sae = load_sae(SHIPPED_SAE)

    class Fake:
        responses = index.transcripts
        starts = index.corpus["transcript_starts"]
        tokens = index.corpus["tokens"]

        def transcript_rows(self, first, last):
            return [
                self.tokens[self.starts[i] : self.starts[i + 1]].tolist()
                for i in range(first, last)
            ]

    seen = []
    for first, features in encoded_chunks(loaded, sae, Fake(), 128, "test"):
        seen.extend(range(first, first + features.shape[0]))
    assert seen == list(range(len(index.corpus["tokens"])))


def test_corpus_prompts_file_errors(tmp_path, no_generation):
    suite = tmp_path / "corpus.jsonl"
    suite.write_text('{"text": "hi"}\n')
    with pytest.raises(ValueError, match="line 1: expected a JSON object with 'prompt'"):
        build_index(replace(SMALL, prompts_file=str(suite)), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
