"""The curators' learning loop: proposals from what people asked, and guarded edits of knowledge/.

`python -m bot kb suggest` lists proposals (bot.curation.proposals), `kb accept` writes an
alternate after checking it cannot harm (bot.curation.accept, bot.curation.yamledit), and
`kb reject` remembers a proposal the curator does not want.
"""

from .accept import Accepted, Curator, LabelledSet, Refused, labelled_sets
from .commands import add_kb_commands, engine_for
from .proposals import Kind, Proposal, cluster, load_proposals, proposal_id, propose, reject

__all__ = [
    "Accepted",
    "Curator",
    "Kind",
    "LabelledSet",
    "Proposal",
    "Refused",
    "add_kb_commands",
    "cluster",
    "engine_for",
    "labelled_sets",
    "load_proposals",
    "proposal_id",
    "propose",
    "reject",
]
