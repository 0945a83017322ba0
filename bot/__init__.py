"""shebao-bot: answers questions about 社保卡 and 医保个人账户家庭共济, on Telegram and in the terminal."""

__version__ = "0.1.0"
