"""Every fixed sentence the bot says, in Chinese, in one place."""

from __future__ import annotations

HOTLINES = "12393(医保服务热线)或 12333(人社服务热线)"

GREETING = (
    "你好!我是社保小助手 🤝\n"
    "我能回答社保卡(用途、激活、挂失补办、密码、查余额)、医保个人账户家庭共济(谁能用、怎么绑定、"
    "跨省共济)、看病报销和异地就医、灵活就业参保和五险、缴费年限等问题,还能一步步带你给家人绑定共济。"
)
TOPICS_PROMPT = "请选择一个话题,或者直接打字提问:"
TOPIC_PROMPT = "「{title}」下面的常见问题:"
HELP = (
    "怎么用我:\n"
    "1. 直接打字提问,比如「外婆能用我的医保吗」「苏州能跨省共济吗」;\n"
    "2. /topics 按话题浏览常见问题;\n"
    "3. /bind 一步步给家人绑定医保个人账户共济;\n"
    "4. /cancel 随时退出当前流程。\n\n"
    "⚠️ 我不会向你索要身份证号、社保卡号、银行卡号或密码,请不要在聊天里发送这些信息。"
)
SMALLTALK_HELLO = "你好!有什么关于社保卡或医保家庭共济的问题,直接问我就行。"

NO_ANSWER = (
    "抱歉,这个问题我的知识库里还没有,不想随便给你一个不准的答案。\n"
    f"建议拨打 {HOTLINES},或咨询当地医保/社保经办窗口。"
)
NOT_OURS = (
    "这个问题好像不是社保卡或医保方面的,我答不了。\n"
    "我只回答社保卡、医保个人账户家庭共济、看病报销、灵活就业参保和五险这些问题。"
)
NO_ANSWER_HINT = "抱歉,这个问题不在我的知识库范围内。\n{hint}"
HOTLINE_TAIL = f"社保、医保方面的问题也可以拨打 {HOTLINES},或咨询当地经办窗口。"
DID_YOU_MEAN = "我不太确定你想问的是哪一个,是下面这些吗?"
NONE_OF_THESE = (
    "好的,看来我的知识库里没有你要的答案。\n"
    "我能回答:家庭共济(谁能用、怎么绑定、跨省)、社保卡(用途、激活、挂失、密码、余额)、"
    "看病报销和异地就医、灵活就业参保、五险和缴费年限。\n"
    f"其他问题请拨打 {HOTLINES},或到当地医保/社保窗口咨询。"
)
NONE_OF_THESE_BUTTON = "都不是"
FOOTER = "📖 来源:{source}|信息截至 {as_of}。各地做法可能不同,以当地医保/社保部门为准。"
FEEDBACK_UP = "👍 有帮助"
FEEDBACK_DOWN = "👎 没帮助"
FEEDBACK_THANKS = "谢谢反馈!"
BIND_BUTTON = "🧭 一步步带我绑定"
TOPICS_BUTTON = "📚 浏览话题"

RELATIVE_YES = "✅ {word}属于{law}规定的近亲属(“{category}”)。"
RELATIVE_NO = "❌ {word}({category})不在{law}列出的近亲属范围内:{reason}。"
RELATIVE_YES_TAIL = "只要{pronoun}参加了基本医保(职工医保或城乡居民医保都可以),就能共济使用你的职工医保个人账户。"
RELATIVE_NO_TAIL = (
    "所以一般不能通过家庭共济使用你的个人账户。可以考虑:由{pronoun}自己的近亲属"
    "(配偶、子女等)中参加职工医保的人来共济;或由{pronoun}本人参保后用自己的账户。"
)
RELATIVE_CLOSING = "近亲属一共 8 类:配偶、父母、子女、兄弟姐妹、祖父母、外祖父母、孙子女、外孙子女。"

REGION_IN = "✅ {name}({province})在首批开通职工医保个人账户跨省共济的 {count} 个统筹区名单里(首批 {since} 上线)。"
REGION_PROVINCE_IN = (
    "ℹ️ {name}只有部分统筹区在首批跨省共济名单里({since} 上线):{regions};"
    "省内其他地区不在首批名单里。"
)
REGION_OUT = "ℹ️ {name}不在首批 {count} 个跨省共济统筹区名单里。"
RELATIVE_UNINSURED = (
    "对方还没参保的话,先让他参加城乡居民医保:你的职工医保个人账户可以替他缴居民医保的个人缴费,"
    "参保后再办共济。"
)
RELATIVE_CARD_NOTE = "注意:共济是绑定后对方刷自己的卡或医保码,不是把你的卡给他用;拿别人的卡看病买药属于冒名就医,是违规的。"
REGION_CLOSING = "跨省共济要求双方所在的统筹区都已开通。各地进度不同,办理前请向当地医保部门或 12393 确认。"

NUMBER_WARNING = (
    "⚠️ 你的消息里好像有{what}。为了你的安全,请不要在聊天里发送这类信息,"
    "我也从不需要它们。必要时请只在官方 App 或经办窗口填写。"
)

NOTHING_TO_CANCEL = "当前没有进行中的流程。有问题可以直接问我。"
ASK_USAGE = "用法:/ask 你的问题"
UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看用法。"
BUTTON_EXPIRED = "这个按钮已经失效了,发送 /topics 重新浏览话题。"
FEEDBACK_ALREADY = "你对这条回答的反馈已经记下了,谢谢!"
TEXT_ONLY = "我目前只能看懂文字消息,请直接打字提问。"
CHINESE_ONLY = "我只能看懂中文的问题,请用中文提问,比如「外婆能用我的医保吗」。"
FLOW_RESUME_WORDS = ("继续", "回到流程", "返回流程", "回到绑定流程")
FLOW_CANCEL_WORDS = ("取消", "退出", "不办了", "算了")
FLOW_ENDED = "这个流程已经结束了。想重新开始,请发送 /bind。"
FLOW_STEP_DONE = "这一步已经选过了,请看最新的那一步。"
FLOW_CANCELLED = "已退出绑定流程。有问题可以继续直接问我。"
FLOW_TIMEOUT = "绑定流程太久没有操作,已自动结束。需要时发送 /bind 重新开始。"
FLOW_RESUME_HINT = "(你还在绑定流程中,回复「继续」回到刚才那一步,或 /cancel 退出。)"
FLOW_RESUME_BUTTON = "↩️ 回到绑定流程"
FLOW_BACK = "⬅️ 上一步"
FLOW_NEXT = "下一步 ➡️"
FLOW_CANCEL = "✖️ 取消"
FLOW_SKIP = "跳过"
FLOW_DONE = "✅ 完成"
FLOW_INPUT_HINT = "(可以点按钮,也可以直接输入文字)"
FLOW_UNKNOWN_RELATION = (
    "没有认出「{text}」这个称呼。请换个说法,比如「外婆」「侄子」「嫂子」,或点「上一步」。\n"
    "如果对方不是你的亲属(如同事、朋友),就不能通过家庭共济使用你的个人账户。"
)

GROUP_BIND = "绑定流程需要一步步操作,请在私聊里继续 👇"
GROUP_BIND_BUTTON = "去私聊开始绑定"
ERROR = "抱歉,处理你的消息时出了点问题,请稍后再试。"
