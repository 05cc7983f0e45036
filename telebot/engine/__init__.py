"""The engine: tasks, their queue and their run, independent of Telegram.

``manager`` is the facade (:class:`~telebot.engine.manager.TaskManager`: submit, queue,
dispatch, cancel, finish, restore, shutdown); ``execute`` runs one task through source → stages
→ sink; ``slots`` holds the FIFO download and upload lines; ``restore`` reads the journal back
after a restart and sweeps stray task folders; ``groups`` is ``-m``; ``limits`` admits tasks and
checks sizes, ``diskguard`` keeps STORAGE_THRESHOLD; ``taskstate`` is a task folder's state
file; ``runner`` says where a task runs (this process or Celery workers). The engine imports no
plug-in: what it needs of one (the STOP_DUPLICATE look-up, sinks/existing.py) is handed in.

The plug-in API (what ``sources/``, ``processing/`` and ``sinks/`` may import from here, checked
by ``.ci/plugin_imports.py``) is ``task`` (Task, TaskSpec, State), ``pipeline`` (Source, Stage,
Sink, Delivery and what a plug-in may ask of the engine) and ``runner``.
"""
