"""The one way work enters the engine: :class:`Intake` turns a :class:`Request` into queued tasks
or a refusal.

Every requester goes through :meth:`Intake.submit`: the chat commands (/mirror, /leech, /ytdl,
/ytdlleech), and a feed or a search that submits on a user's behalf. So every task passes the same
checks in the same order:

1. **who**: the requester must be authorized (owner, sudo, or an authorized user or chat);
2. **what**: the arguments become specs (:mod:`telebot.intake.specs`: flags > user settings >
   config; a source must accept the link), ``-b`` and ``-i`` expand into one spec per line or
   message (:mod:`telebot.intake.many`), ``-m`` adds the group's delivery;
3. **where to**: the checks that need I/O (the rclone config for ``-up remote:``, the Bot API for
   ``-up <chat>``, sudo for ``-overwrite``);
4. **admission**: the engine's limits (USER_TASKS_LIMIT, sizes), all-or-nothing for many
   (:meth:`TaskManager.submit_many`, :meth:`TaskManager.submit_group`).

Blocking (SQLite, the rclone config, the Bot API, the journal): never call it on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from telebot.config import Config
from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError
from telebot.intake.args import TaskArgs, parse_task_args
from telebot.intake.auth import Authorizer, Level
from telebot.intake.many import Item, bulk_items, is_text_file, multi_items
from telebot.intake.request import Conversation, Outcome, Replied, Request
from telebot.intake.specs import COMMANDS, Command, SpecBuilder
from telebot.redact import carries_credentials
from telebot.settings.user import UserSettings
from telebot.shown import html_name
from telebot.sinks.rclone.remotes import Remotes, looks_remote
from telebot.store import Store

log = logging.getLogger(__name__)

NOT_AUTHORIZED = "You are not authorized to start tasks. Ask the bot's owner to /auth you."

#: ``can_post(chat_id, user_id, sudo)``: raise BadInputError when ``user_id`` may not have the
#: bot post into ``chat_id`` (``-up <chat>`` of /leech; bot/chatperms.py answers for the bot).
PostCheck = Callable[[int, int, bool], None]


class TaskQueue(Protocol):
    """The engine's side of admission (:class:`~telebot.engine.manager.TaskManager`): each call
    checks the limits under its lock and queues all of ``specs`` or none (BadInputError)."""

    def submit(self, spec: TaskSpec) -> Task: ...

    def submit_many(self, specs: Sequence[TaskSpec], labels: Sequence[str]) -> list[Task]: ...

    def submit_group(
        self, members: list[TaskSpec], delivery: TaskSpec, labels: Sequence[str] | None = None
    ) -> str: ...


@dataclass
class Intake:
    """What a requester asked → checked specs → queued tasks (see the module docstring)."""

    config: Config
    store: Store  # the users' /usetting rows
    auth: Authorizer
    specs: SpecBuilder
    queue: TaskQueue
    can_post: PostCheck

    def submit(self, request: Request) -> Outcome:
        """Queue the tasks ``request`` asks for, all or none.

        Returns an :class:`Outcome` with the queued gids (for ``-m``, the group's id) and, for
        many tasks, a line to tell the requester; or with ``refusal``, the text saying why
        nothing was queued: not authorized, a bad flag or link (naming the line or message of
        ``-b``/``-i``), a destination the requester may not use, or a limit; the caller tells
        the requester and logs it (a refusal for an unauthorized requester is logged here).
        A requester without a chat (``request.conversation`` None) cannot use ``-b`` or ``-i``.
        Any other error (the bot shutting down, a broken store) is raised. Blocking: never on
        the loop.
        """
        who = request.requester
        if not self.auth.allowed(Level.USER, who.user_id, who.chat_id):
            log.info("refused a %s from unauthorized user %s", request.command, who.user_id)
            return Outcome(refusal=NOT_AUTHORIZED)
        try:
            return self._submit(request)
        except BadInputError as exc:
            # Not logged here: the caller answers the requester and logs the refusal once (the
            # chat front's guard does, bot/application.py).
            return Outcome(refusal=str(exc))

    def _submit(self, request: Request) -> Outcome:
        command = COMMANDS.get(request.command)
        if command is None:
            raise BadInputError(f"/{request.command[:30]} does not start tasks.")
        args = request.args
        if isinstance(args, str):
            args = parse_task_args(args, command.kind)
        who = request.requester
        settings = UserSettings.load(self.store, who.user_id)
        if args.bulk or args.multi:
            return self._submit_many(request, command, args, settings)
        if args.folder is not None:
            raise BadInputError("-m puts the results of -i or -b into one folder: add one of them.")
        replied = request.replied
        spec = self.specs.spec_from(
            args,
            command,
            who,
            reply_text=replied.text if replied else None,
            reply_file=replied.file if replied else None,
            user=settings,
            reply_photo=replied.photo if replied else None,
        )
        self._check(spec)
        return Outcome(gids=(self.queue.submit(spec).gid,))

    def _check(self, spec: TaskSpec) -> None:
        """What spec_from cannot check without I/O."""
        if (spec.select or spec.seeding) and not self.specs.honours_torrent_flags(spec):
            flag = "-s" if spec.select else "-d"
            raise BadInputError(f"{flag} only applies to torrents (a magnet or a .torrent file).")
        mirror_remote = spec.kind == "mirror" and looks_remote(spec.upload)
        if spec.overwrite and not mirror_remote:
            raise BadInputError("-overwrite only applies to uploads to an rclone remote.")
        sudo = self.auth.is_sudo(spec.user_id)
        if spec.overwrite and not sudo:
            raise BadInputError("-overwrite is only for sudo users: without it the upload "
                                "takes a free name, like name (1).")
        if mirror_remote:
            cfg = self.config
            Remotes.load(cfg.rclone_config, cfg.rclone_allowed_roots).check(spec.upload or "")
        if spec.kind == "leech" and spec.upload is not None:
            self.can_post(int(spec.upload), spec.user_id, sudo)

    # -- -b and -i: many tasks from one command ----------------------------------------------

    def _submit_many(
        self, request: Request, command: Command, args: TaskArgs, settings: UserSettings
    ) -> Outcome:
        who = request.requester
        items = self._items(request, command, args)
        specs: list[TaskSpec] = []
        checked: set[tuple[str, str | None]] = set()  # one destination check per destination
        for item in items:
            try:
                spec = self.specs.spec_from(
                    item.args, command, who, reply_text=item.text, reply_file=item.file,
                    user=settings,
                )
                first = (spec.kind, spec.upload) not in checked
                if first or spec.select or spec.seeding or spec.overwrite:
                    self._check(spec)
                    checked.add((spec.kind, spec.upload))
            except BadInputError as exc:
                raise BadInputError(f"{item.label}: {exc}") from None
            specs.append(spec)
        if args.folder is not None and self.config.celery_broker_url:
            # A group's results meet in one folder on one disk; workers each have their own.
            raise BadInputError("-m is not available when tasks run on scale-out workers.")
        labels = [item.label for item in items]
        if args.folder is None:
            tasks = self.queue.submit_many(specs, labels)
            return Outcome(tuple(t.gid for t in tasks), f"📋 Started {len(specs)} tasks.")
        delivery = self.specs.delivery_spec(args, command.kind, who, settings)
        group = self.queue.submit_group(specs, delivery, labels)
        return Outcome(
            (group,),
            f"📋 Started {len(specs)} tasks; their results go into one folder, "
            f"<b>{html_name(delivery.name or '')}</b>, delivered when all are done.",
        )

    def _items(self, request: Request, command: Command, args: TaskArgs) -> list[Item]:
        if args.bulk and args.multi:
            raise BadInputError("Use -b or -i, not both.")
        if args.task_thumbnail:
            raise BadInputError("-t takes the photo you reply to: it works with one link, "
                                "not with -b or -i.")
        flag = "-b" if args.bulk else "-i"
        if args.link is not None:
            raise BadInputError(f"{flag} takes its links from the message you reply to.")
        chat = request.conversation
        if chat is None:
            raise BadInputError(f"{flag} needs a chat to read its messages from.")
        replied = request.replied
        if args.bulk:
            if replied is None:
                raise BadInputError("-b: reply to a message or a .txt file with one link per line.")
            text = self._list_text(chat, replied)
            return bulk_items(args, text, command.kind, self.config.bulk_limit)
        count = args.multi or 1
        if replied is None:
            raise BadInputError(f"-i {count}: reply to the first of the {count} messages.")
        following = chat.following(replied.message_id, count)
        return multi_items(args, [replied, *following])

    def _list_text(self, chat: Conversation, replied: Replied) -> str:
        """The -b list: the replied-to message's text, or its .txt file."""
        text = replied.text
        if replied.file is not None:
            if not is_text_file(replied.file, replied.mime_type):
                raise BadInputError("-b reads links from a message or a .txt file.")
            text = chat.read_list(replied.file)
        if carries_credentials(text or ""):
            # Like a command with a password (bot/application.py), and before the lines are
            # read: a bad line must not keep the list in the chat. The values themselves go
            # into the task specs, which the journal seals.
            chat.withdraw(replied.message_id)
        return text or ""

