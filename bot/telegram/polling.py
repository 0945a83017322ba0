"""The getUpdates connection, which survives an update python-telegram-bot cannot parse."""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from .journal import UpdateJournal

logger = logging.getLogger(__name__)

GET_UPDATES = "getUpdates"
EMPTY_RESULT = b'"result":[]'  # how the Bot API writes a getUpdates answer with no updates
HTTP_OK = 200


class UpdatesRequest(HTTPXRequest):
    """The getUpdates connection, which writes updates to the journal before they are confirmed
    (by the next getUpdates) and skips an update python-telegram-bot cannot parse.

    PTB parses a whole batch at once; when one update fails, nothing is confirmed and the same
    batch comes back forever: the bot would stop. When updates are asked for again from the
    offset that last brought some, each update is checked and a broken one is replaced by an
    empty update with its id, which confirms it (the screen handler logs and skips it).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("connection_pool_size", 1)  # one long poll at a time, as PTB's default
        super().__init__(**kwargs)
        self._last_offset: object = None
        self._last_had_updates = False
        self.journal: UpdateJournal | None = None  # set by build_application

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE, pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request; for a getUpdates repeated from the same offset, drop broken updates."""
        code, payload = await super().do_request(url, method, request_data, read_timeout,
                                                 write_timeout, connect_timeout, pool_timeout)
        if code != HTTP_OK or not url.endswith(GET_UPDATES):
            return code, payload
        offset = (request_data.parameters if request_data else {}).get("offset")
        retried = offset == self._last_offset and self._last_had_updates
        # A cheap look: an empty batch is '"result":[]'; a wrong guess only costs a check.
        self._last_offset, self._last_had_updates = offset, EMPTY_RESULT not in payload
        journal = self.journal if self.journal is not None and self.journal.on else None
        if not (retried or (journal is not None and self._last_had_updates)):
            return code, payload
        try:
            body = json.loads(payload)
            items = body["result"]
            if not isinstance(items, list):
                raise TypeError("result is not a list")
        except (ValueError, TypeError, KeyError):  # not the usual shape: leave it to PTB
            return code, payload
        if retried:
            items = [screen_update(item) for item in items]
        if journal is not None:  # on disk before the next getUpdates confirms them
            fresh = await journal.add([i for i in items if isinstance(i, dict)],
                                      again_in_this_run=True)
            seen = iter(fresh)
            items = [i if not isinstance(i, dict) or next(seen) else {"update_id": i.get("update_id")}
                     for i in items]  # one received before is confirmed, not handled again
        body["result"] = items
        return code, json.dumps(body).encode()


def screen_update(item: Any) -> Any:
    """An update as received if it parses, else an empty update with the same id."""
    try:
        Update.de_json(item, None)
        return item
    except Exception as exc:  # noqa: BLE001 - any failure means PTB cannot use it
        update_id = item.get("update_id") if isinstance(item, dict) else None
        logger.error("update %s cannot be parsed (%s: %s); skipping it", update_id,
                     type(exc).__name__, exc)
        return {"update_id": update_id} if isinstance(update_id, int) else item
