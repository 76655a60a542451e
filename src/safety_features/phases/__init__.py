"""Concept sets, membership scorers, and segmentation of responses into phases.

See docs/phases.md for the terms (concept set, c-phase, emergence, onset, transition).
"""

from safety_features.phases.classifier import ClassifierScorer, ClassifierTraining
from safety_features.phases.concepts import (
    SAFETY_CONCEPTS,
    Concept,
    ConceptSet,
    ConceptSetError,
    load_concept_set,
)
from safety_features.phases.detect import PhaseDetector, PhaseResult, detect_phases
from safety_features.phases.scorers import AnnotationScorer, EmbeddingScorer, LexicalScorer
from safety_features.phases.segment import (
    Emergence,
    Phase,
    Segmentation,
    SegmentationSettings,
    Transition,
)
from safety_features.phases.text import TokenizedText, tokenize_response

__all__ = [
    "SAFETY_CONCEPTS",
    "AnnotationScorer",
    "ClassifierScorer",
    "ClassifierTraining",
    "Concept",
    "ConceptSet",
    "ConceptSetError",
    "EmbeddingScorer",
    "Emergence",
    "LexicalScorer",
    "Phase",
    "PhaseDetector",
    "PhaseResult",
    "Segmentation",
    "SegmentationSettings",
    "TokenizedText",
    "Transition",
    "detect_phases",
    "load_concept_set",
    "tokenize_response",
]
