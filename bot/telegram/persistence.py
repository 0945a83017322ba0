"""The bot's state on disk: PicklePersistence written atomically, only when something changed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from telegram.ext import PicklePersistence

from .memory import CONTEXT_TYPES, ChatData, UserData, typed

PERSISTENCE_INTERVAL_S = 10.0  # PTB's periodic write, for changes made outside updates (timeouts)
_MISSING = object()  # "no value yet", unequal to any stored value


class StatePersistence(PicklePersistence):  # type: ignore[type-arg]
    """PicklePersistence written only by flush(), atomically, and only when something changed.

    Every update ends with a flush (see OpsApplication; in a burst every WRITE_DEFER_MAX
    updates): a kill -9 loses at most the updates in flight and not yet written, and never leaves
    a half-written file (the new file replaces the old one).
    """

    def __init__(self, filepath: Path | str, update_interval: float = PERSISTENCE_INTERVAL_S) -> None:
        super().__init__(filepath=filepath, on_flush=True, update_interval=update_interval,
                         context_types=CONTEXT_TYPES)
        self.dirty = False
        self.writes = 0

    async def get_user_data(self) -> dict[int, UserData]:
        """Each user's data, typed (a state written by an older version holds plain dicts)."""
        return typed(await super().get_user_data(), UserData)

    async def get_chat_data(self) -> dict[int, ChatData]:
        """Each chat's data, typed."""
        return typed(await super().get_chat_data(), ChatData)

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        """Keep a user's data in memory; mark the state dirty if it changed."""
        self.dirty |= (self.user_data or {}).get(user_id, _MISSING) != data
        await super().update_user_data(user_id, data)

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        """Keep a chat's data in memory; mark the state dirty if it changed."""
        self.dirty |= (self.chat_data or {}).get(chat_id, _MISSING) != data
        await super().update_chat_data(chat_id, data)

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        """Keep the bot's data in memory; mark the state dirty if it changed."""
        self.dirty |= self.bot_data != data
        await super().update_bot_data(data)

    async def update_callback_data(self, data: Any) -> None:
        """Keep the callback data cache in memory; mark the state dirty if it changed."""
        self.dirty |= self.callback_data != data
        await super().update_callback_data(data)

    async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
        """Keep a conversation state in memory; mark the state dirty if it changed."""
        self.dirty |= (self.conversations or {}).get(name, {}).get(key, _MISSING) != new_state
        await super().update_conversation(name, key, new_state)

    async def drop_chat_data(self, chat_id: int) -> None:
        """Forget a chat's data."""
        self.dirty = True
        await super().drop_chat_data(chat_id)

    async def drop_user_data(self, user_id: int) -> None:
        """Forget a user's data."""
        self.dirty = True
        await super().drop_user_data(user_id)

    async def flush(self) -> None:
        """Write everything to a temporary file, then rename it over the real one."""
        final = Path(self.filepath)
        temporary = final.with_name(final.name + ".tmp")
        temporary.unlink(missing_ok=True)  # a leftover of a kill in the middle of a write
        self.filepath = temporary
        try:
            await super().flush()  # no await inside: nothing else runs while it writes
        finally:
            self.filepath = final
        if temporary.exists():
            os.replace(temporary, final)
            self.writes += 1
        self.dirty = False

    async def flush_if_dirty(self) -> None:
        """flush() when something changed since the last one."""
        if self.dirty:
            await self.flush()
