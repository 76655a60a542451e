"""All benign domains, in a fixed order (the order of BENIGN_DOMAINS)."""

from safety_features.organism.corpus.benign_home import HOME_DOMAINS
from safety_features.organism.corpus.benign_knowledge import KNOWLEDGE_DOMAINS
from safety_features.organism.corpus.benign_vocabulary import BenignDomain

DOMAINS: tuple[BenignDomain, ...] = HOME_DOMAINS + KNOWLEDGE_DOMAINS
