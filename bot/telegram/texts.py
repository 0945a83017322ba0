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
    ("ask", "提问:/ask 你的问题"),
    ("faq", "按话题浏览常见问题"),
    ("bind", "去私聊一步步绑定家庭共济"),
    ("help", "在群里怎么用我"),
)
# Group admins get the group menu plus the group's settings.
ADMIN_COMMANDS = (*GROUP_COMMANDS, ("settings", "群设置:自动回答开关"))


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

# ----- group chats (groups.py) -----
GROUP_HELP = (
    "在群里这样问我:\n"
    "1. /ask 加上问题,比如「/ask 外婆能用我的医保吗」;\n"
    "2. 回复我的任意一条消息,接着提问;\n"
    "3. 回复别人的提问并发送 /ask,我来回答那条问题;\n"
    "4. /faq 按话题浏览常见问题;\n"
    "5. /bind 去私聊一步步绑定家庭共济。\n"
    "如果群管理员把我设为管理员,或关闭了我的隐私模式,也可以直接 @我 提问。\n"
    "在任何聊天的输入框里打 @我 加关键词(比如「@我 共济」),还能挑一条答案直接发出去。\n\n"
    "⚠️ 请不要在群里发身份证号、银行卡号或密码。"
)
ASK_HINT = "请在 /ask 后面写上问题,比如:/ask 外婆能用我的医保吗。也可以回复别人的提问并发送 /ask。"
SETTINGS_TITLE = "⚙️ 本群设置"
AUTO_ANSWER_STATE = "自动回答:{state}"
AUTO_ANSWER_ON = "已开启"
AUTO_ANSWER_OFF = "已关闭"
AUTO_ANSWER_EXPLAINED = (
    "开启后,群里有人提问、而且我有把握时,我会主动回答;"
    "同一个问题 {period}内只答一次,再有人问时我会指向上面的回答。"
)
SEES_ALL_MESSAGES = "✅ 我能看到群里的所有消息。"
SEES_COMMANDS_ONLY = (
    "⚠️ 我现在只能看到命令和回复我的消息(隐私模式开启,而且我不是管理员),自动回答不会生效。"
    "请把我设为管理员;或者在 @BotFather 里用 /setprivacy 关闭隐私模式,再把我移出群、重新拉进来。"
)
SECONDS = "{n} 秒"
MINUTES = "{n} 分钟"
TURN_ON = "开启自动回答"
TURN_OFF = "关闭自动回答"
AUTO_ANSWER_SAVED = "自动回答{state}。"
SETTINGS_ADMIN_ONLY = "只有群管理员可以修改群设置。"
SETTINGS_GROUP_ONLY = "群设置只能在群里用:把我拉进群后,由群管理员发送 /settings。"
RECENTLY_ANSWERED = "上面刚回答过这个问题,"
SEE_EARLIER_ANSWER = "点这里查看"
RECENTLY_ANSWERED_HERE = "上面刚回答过这个问题,就是这条 👆"
# A burst of questions in one group (Telegram lets the bot post 20 messages a minute there).
BUSY_NOTICE = "现在提问的人比较多,我会按顺序回答,相同的问题合并成一条回答,请稍等一会儿。"
ALSO_ASKED = "({names} 也问了同样的问题,一并回答。)"
ANONYMOUS_ADMIN = "群管理员"  # who an anonymous admin's post is from (Telegram says "Group")
NUMBER_DELETED = (
    "⚠️ {name} 发的消息里有{what},为了安全,我已经把它删除了。"
    "请不要在群里发送这类信息;办理业务时只在官方 App 或经办窗口填写。"
)
# Toasts (answerCallbackQuery, at most 200 characters) for presses on someone else's message.
NOT_YOUR_QUESTION = "已为你另发一条回答。原来那条是别人的提问,只有提问的人点按钮才会改动它。"
NOT_YOUR_MENU = "已为你另发一份菜单。原来那份是别人打开的,只有他本人点按钮才会改动它。"
FEEDBACK_THANKS_OTHER = "谢谢反馈,已记下!这条回答是给别人的,只有提问的人点按钮才会改动它。"
NONE_OF_THESE_OTHER = "已记下。这条是别人的提问,只有提问的人点按钮才会改动它;你的问题可以用 /ask 问我。"

# ----- inline mode (inline.py) -----
INLINE_BUTTON = "💬 私聊社保小助手"
INLINE_TRUNCATED = "……回答较长,完整内容请私聊 @{bot} 查看。"

# ----- operations (ops.py): /reload for the user ids in ADMIN_IDS, and starting up -----
# Added to the command menu of each admin's private chat.
RELOAD_COMMAND = ("reload", "重新加载知识库(管理员)")
RELOAD_NOT_ALLOWED = "抱歉,只有管理员可以重新加载知识库。有问题可以直接问我。"
RELOAD_DONE = "✅ 知识库已重新加载:{new}(之前是 {old})。"
RELOAD_REFUSED = (
    "❌ 新的知识库没有通过检查,没有替换;机器人继续使用原来的知识库({old})。\n\n"
    "问题:\n{problems}"
)
RELOAD_MORE_PROBLEMS = "……还有 {count} 条,详见日志或 python -m bot kb check。"
WEBHOOK_SECRET_MISSING = (
    "错误:设置了 WEBHOOK_URL(webhook 模式),但没有设置 WEBHOOK_SECRET。"
    "请设置一个 1-256 位、由字母数字 _ - 组成的密钥(例如 openssl rand -hex 32 的输出)。\n"
    "Error: WEBHOOK_URL is set (webhook mode) but WEBHOOK_SECRET is not. Set a secret of 1-256 "
    "characters from A-Z a-z 0-9 _ - (e.g. the output of `openssl rand -hex 32`)."
)
STARTUP_FAILED = (
    "错误:机器人无法启动:{problem}\n"
    "Error: the bot could not start: {problem}"
)
