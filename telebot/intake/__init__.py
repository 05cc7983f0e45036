"""What the user asked, checked: task arguments, many-task commands and who may do what.

Free of python-telegram-bot, so the chat front, feeds and search can all feed it."""
