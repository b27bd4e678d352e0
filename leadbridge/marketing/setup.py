"""Default channels and channel rules that `leadbridge init` / `leadbridge demo` ensure exist.

Idempotent: a channel is created only when its key is missing, and the default rules only
when the rule table is empty, so a marketer's edits (deleted or reordered rules, renamed
channels) survive every later `init`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from leadbridge.core import clock
from leadbridge.marketing import rules as rule_cache
from leadbridge.marketing.models import DEFAULT_CHANNELS, Channel, ChannelRule, RuleField, RuleOp

SOCIAL_SOURCES = (
    "vk,vkontakte,vk.com,vk_ads,vkads,mytarget,facebook,facebook.com,fb,instagram,instagram.com,ig,"
    "meta,ok,ok.ru,odnoklassniki,telegram,tg,t.me,twitter,x,linkedin,tiktok,pinterest,youtube,"
    "reddit,snapchat,dzen,zen"
)
PAID_MEDIUMS = "cpc,ppc,paid,paidsearch,paid_search,paid-search,cpv,cpa,cpp,sem"
PAID_SOCIAL_MEDIUMS = (
    "paid_social,paidsocial,paid-social,social_paid,social-paid,paid social,social-cpc,social_cpc"
)
DISPLAY_MEDIUMS = "display,banner,cpm,rtb,programmatic,media"
EMAIL_MEDIUMS = "email,e-mail,e_mail,mail,newsletter,mailing,rassylka"
SOCIAL_MEDIUMS = "social,smm,social-network,social_network,social-media,social_media,sm"
MESSENGER_MEDIUMS = "messenger,chatbot,chat-bot,bot,whatsapp,viber"
OFFLINE_MEDIUMS = "offline,print,tv,radio,outdoor,ooh,qr,flyer,event"
EMAIL_SOURCES = "email,newsletter,mailchimp,sendpulse,unisender,sendsay,mailerlite,dashamail"
MESSENGER_SOURCES = "whatsapp,viber,wa"
WEBMAIL_DOMAINS = (
    "mail.google.com,mail.yandex.ru,mail.yandex.com,mail.yandex.by,mail.yandex.kz,e.mail.ru,"
    "touch.mail.ru,octavius.mail.ru,mail.rambler.ru,outlook.live.com,outlook.office.com,"
    "outlook.office365.com,mail.live.com,mail.yahoo.com,mail.proton.me,mail.aol.com"
)
SOCIAL_DOMAINS = (
    "facebook.com,fb.com,fb.me,instagram.com,vk.com,vk.ru,vk.me,ok.ru,odnoklassniki.ru,t.me,"
    "telegram.org,telegram.me,twitter.com,x.com,t.co,linkedin.com,lnkd.in,youtube.com,youtu.be,"
    "pinterest.com,reddit.com,tiktok.com,dzen.ru,zen.yandex.ru,threads.net,my.mail.ru"
)
MESSENGER_DOMAINS = "wa.me,whatsapp.com,viber.com,icq.com"
# Search engines: google.<any tld>, yandex.<any tld> (not docs.google.com), bing, duckduckgo, ...
SEARCH_REGEX = (
    r"^(google|yandex)\.[a-z]{2,3}(\.[a-z]{2})?$|^ya\.ru$|(^|\.)bing\.com$|"
    r"(^|\.)duckduckgo\.com$|^search\.yahoo\.com$|(^|\.)baidu\.com$|(^|\.)ecosia\.org$|"
    r"^go\.mail\.ru$|^nova\.rambler\.ru$|^search\.brave\.com$|(^|\.)startpage\.com$|(^|\.)qwant\.com$"
)

# (channel, field, op, value, field2, op2, value2) in evaluation order: first match wins.
DEFAULT_RULES: list[tuple[str, str, str, str, str, str, str]] = [
    # Explicit UTM conventions first: a marketer's tags beat guesses from the referrer.
    ("paid_social", RuleField.UTM_MEDIUM, RuleOp.IN, PAID_SOCIAL_MEDIUMS, "", "", ""),
    (
        "paid_social",
        RuleField.UTM_MEDIUM,
        RuleOp.IN,
        PAID_MEDIUMS,
        RuleField.UTM_SOURCE,
        RuleOp.IN,
        SOCIAL_SOURCES,
    ),
    ("paid_search", RuleField.UTM_MEDIUM, RuleOp.IN, PAID_MEDIUMS, "", "", ""),
    ("display", RuleField.UTM_MEDIUM, RuleOp.IN, DISPLAY_MEDIUMS, "", "", ""),
    ("email", RuleField.UTM_MEDIUM, RuleOp.IN, EMAIL_MEDIUMS, "", "", ""),
    ("social", RuleField.UTM_MEDIUM, RuleOp.IN, SOCIAL_MEDIUMS, "", "", ""),
    ("messenger", RuleField.UTM_MEDIUM, RuleOp.IN, MESSENGER_MEDIUMS, "", "", ""),
    ("referral", RuleField.UTM_MEDIUM, RuleOp.IN, "referral,partner,affiliate", "", "", ""),
    ("organic_search", RuleField.UTM_MEDIUM, RuleOp.IN, "organic,seo", "", "", ""),
    ("offline", RuleField.UTM_MEDIUM, RuleOp.IN, OFFLINE_MEDIUMS, "", "", ""),
    # Ad click ids: Google, Yandex Direct, Microsoft Ads. fbclid is added by Facebook to every
    # outbound link, paid or not, so alone it means social.
    ("paid_search", RuleField.CLICK_ID, RuleOp.IN, "gclid,gbraid,wbraid,dclid,yclid,msclkid", "", "", ""),
    ("social", RuleField.CLICK_ID, RuleOp.IN, "fbclid,igshid", "", "", ""),
    # utm_source alone.
    ("social", RuleField.UTM_SOURCE, RuleOp.IN, SOCIAL_SOURCES, "", "", ""),
    ("email", RuleField.UTM_SOURCE, RuleOp.IN, EMAIL_SOURCES, "", "", ""),
    ("messenger", RuleField.UTM_SOURCE, RuleOp.IN, MESSENGER_SOURCES, "", "", ""),
    # Referrers. Web mail before search: mail.yandex.ru is not a Yandex search.
    ("email", RuleField.REFERRER_DOMAIN, RuleOp.IN, WEBMAIL_DOMAINS, "", "", ""),
    ("email", RuleField.REFERRER_DOMAIN, RuleOp.REGEX, r"^(web)?mail\.", "", "", ""),
    ("messenger", RuleField.REFERRER_DOMAIN, RuleOp.IN, MESSENGER_DOMAINS, "", "", ""),
    ("social", RuleField.REFERRER_DOMAIN, RuleOp.IN, SOCIAL_DOMAINS, "", "", ""),
    ("organic_search", RuleField.REFERRER_DOMAIN, RuleOp.REGEX, SEARCH_REGEX, "", "", ""),
    # Any other site linking to us.
    ("referral", RuleField.REFERRER_DOMAIN, RuleOp.EXISTS, "", "", "", ""),
]


@transaction.atomic
def ensure_defaults() -> dict[str, Any]:
    """Create missing default channels and, on an empty rule table, the default rules."""
    existing = set(Channel.objects.values_list("key", flat=True))
    created_channels = []
    for position, (key, name) in enumerate(DEFAULT_CHANNELS):
        if key not in existing:
            Channel.objects.create(key=key, name=name, position=(position + 1) * 10)
            created_channels.append(key)
    created_rules = 0
    if not ChannelRule.objects.exists():
        channels = {c.key: c for c in Channel.objects.all()}
        now = clock.now()
        ChannelRule.objects.bulk_create(
            ChannelRule(
                position=(i + 1) * 10,
                channel=channels[channel],
                field=field,
                op=op,
                value=value,
                field2=field2,
                op2=op2,
                value2=value2,
                created_at=now,
                updated_at=now,
            )
            for i, (channel, field, op, value, field2, op2, value2) in enumerate(DEFAULT_RULES)
        )
        created_rules = len(DEFAULT_RULES)
    rule_cache.rules_changed()
    return {"channels": created_channels, "rules": created_rules}
