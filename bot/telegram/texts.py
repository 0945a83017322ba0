"""Fixed Chinese text only the Telegram bot says (the engine's sentences are in engine/messages.py)."""

from __future__ import annotations

# Command menus per scope (setMyCommands): (command, description).
PRIVATE_COMMANDS = (
    ("start", "开始:话题菜单"),
    ("topics", "按话题浏览常见问题"),
    ("bind", "一步步给家人绑定医保共济"),
    ("help", "使用帮助"),
    ("cancel", "退出当前流程"),
)
GROUP_COMMANDS = (
    ("help", "使用帮助"),
    ("topics", "按话题浏览常见问题"),
    ("bind", "去私聊一步步绑定家庭共济"),
)
# Group admins get the group menu; admin-only commands will be added here.
ADMIN_COMMANDS = GROUP_COMMANDS

NOTHING_TO_CANCEL = "当前没有进行中的流程。有问题可以直接问我。"
UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看用法。"
TEXT_ONLY = "我目前只能看懂文字消息,请直接打字提问。"
BUTTON_EXPIRED = "这个按钮已经失效了,发送 /topics 重新浏览话题。"
RESUME_BUTTON = "↩️ 回到绑定流程"
# Words that, typed during a dialogue, mean "show me the current step again" / "stop".
RESUME_WORDS = frozenset({"继续", "回到流程", "返回流程"})
CANCEL_WORDS = frozenset({"取消", "退出", "不办了"})

# Printed by `python -m bot run` when it cannot start (both languages, for operators).
TOKEN_MISSING = (
    "错误:没有设置 TELEGRAM_BOT_TOKEN。请在环境变量或 .env 文件里填入机器人的 token(向 @BotFather 申请)。\n"
    "Error: TELEGRAM_BOT_TOKEN is not set. Put the bot's token (from @BotFather) in the "
    "environment or in a .env file."
)
SETTINGS_INVALID = "错误:设置有误:{problem}\nError: invalid setting: {problem}"
KNOWLEDGE_INVALID = (
    "错误:知识库检查没有通过,机器人没有启动。\n"
    "Error: the knowledge base fails its check; the bot was not started.\n{problems}"
)
