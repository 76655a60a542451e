"""Clusters of safety sentences, by the model's residual stream at the onset and by sentence
embeddings.

A safety sentence is the first clause of a response's safety phase. Its two representations:

- residual: the activation at the hook at the position that predicts the onset token (the
  position where the model decides to start the phase), standardised per dimension;
- embedding: the all-MiniLM-L6-v2 embedding of the sentence (unit norm).

k-means runs for every k from 2 to `max_clusters` (at most n - 1), and the k with the highest
silhouette score is kept. Purity against the prompt category is the share of sentences whose
category is the most common one of their cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from safety_features.experiments.occurrence.suite import category_of
from safety_features.models.loading import LoadedModel
from safety_features.phases.responses import DetectedResponse
from safety_features.phases.scorers import EmbeddingScorer
from safety_features.saes.activations import transcript_activations


@dataclass(frozen=True)
class Clustering:
    representation: str
    k: int
    silhouette_by_k: dict[int, float]
    labels: np.ndarray
    projection: np.ndarray
    """2-D PCA projection of the representations, for the plot."""
    purity: float
    clusters: list[dict]

    def to_dict(self) -> dict:
        return {
            "representation": self.representation,
            "k": self.k,
            "silhouette_by_k": self.silhouette_by_k,
            "purity_against_category": self.purity,
            "clusters": self.clusters,
        }


def onset_activations(
    loaded: LoadedModel, hook_name: str, responses: Sequence[DetectedResponse]
) -> np.ndarray:
    """Activation at `hook_name` at the position predicting each response's onset token."""
    transcripts, keeps = [], []
    for response in responses:
        generation = response.generation
        ids = (*generation.prompt_token_ids, *generation.response_token_ids)
        assert response.onset is not None and response.onset.token_index is not None
        position = len(generation.prompt_token_ids) + response.onset.token_index - 1
        transcripts.append(ids)
        keeps.append([i == position for i in range(len(ids))])
    activations = transcript_activations(loaded, hook_name, transcripts, keeps, progress=False)
    return activations.numpy()


def cluster(
    vectors: np.ndarray,
    categories: Sequence[str],
    sentences: Sequence[str],
    representation: str,
    max_clusters: int,
    n_examples: int,
    seed: int,
) -> Clustering | None:
    """k-means with k chosen by silhouette; None when there are too few distinct sentences."""
    if len(vectors) < 3 or len(np.unique(vectors, axis=0)) < 3:
        return None
    scores: dict[int, float] = {}
    fits = {}
    for k in range(2, min(max_clusters, len(np.unique(vectors, axis=0)) - 1) + 1):
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(vectors)
        scores[k] = float(silhouette_score(vectors, model.labels_))
        fits[k] = model
    if not scores:
        return None
    best = max(scores, key=lambda k: scores[k])
    model = fits[best]
    labels = model.labels_
    clusters = []
    majority = 0
    for label in range(best):
        members = np.nonzero(labels == label)[0]
        counts = Counter(categories[int(i)] for i in members)
        majority += counts.most_common(1)[0][1]
        distances = np.linalg.norm(vectors[members] - model.cluster_centers_[label], axis=1)
        closest = members[np.argsort(distances)[:n_examples]]
        clusters.append(
            {
                "size": len(members),
                "categories": dict(counts.most_common()),
                "examples": [sentences[int(i)] for i in closest],
            }
        )
    projection = PCA(n_components=2, random_state=seed).fit_transform(vectors)
    return Clustering(
        representation, best, scores, labels, projection, majority / len(vectors), clusters
    )


def cluster_safety_sentences(
    loaded: LoadedModel,
    hook_name: str,
    responses: Sequence[DetectedResponse],
    field: str,
    embedder: EmbeddingScorer,
    max_clusters: int,
    n_examples: int,
    seed: int,
) -> dict[str, Clustering | None]:
    """Cluster the safety sentences of `responses` by both representations."""
    with_onset = [r for r in responses if r.onset is not None and r.onset.token_index is not None]
    sentences = [r.onset.phrase.strip() for r in with_onset]  # type: ignore[union-attr]
    categories = [category_of(r.prompt, field) for r in with_onset]
    if len(with_onset) < 3:
        return {"residual": None, "embedding": None}
    residual = onset_activations(loaded, hook_name, with_onset)
    residual = (residual - residual.mean(axis=0)) / (residual.std(axis=0) + 1e-6)
    embedding = embedder.embed(sentences)
    return {
        "residual": cluster(
            residual, categories, sentences, "residual", max_clusters, n_examples, seed
        ),
        "embedding": cluster(
            embedding, categories, sentences, "embedding", max_clusters, n_examples, seed
        ),
    }
