from __future__ import annotations

from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "leadbridge.scoring"
    label = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from leadbridge.contacts.merge import register_refresher, register_relation
        from leadbridge.scoring.models import ScoreEntry
        from leadbridge.scoring.services import scores_refresh

        # A merge moves the loser's ledger to the winner (and back on undo); the refresher then
        # sets both contacts' score and band from their ledgers, in the merge's transaction.
        register_relation(ScoreEntry, "contact")
        register_refresher(scores_refresh)
