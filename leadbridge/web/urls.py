"""Web UI routes. One flat list: each page area appends its own lines."""

from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from leadbridge.web.views import account, audit, companies, contacts, home, imports, quality
from leadbridge.web.views import capture_settings as capture_settings_views
from leadbridge.web.views import inbox as inbox_views
from leadbridge.web.views import inquiries as inquiries_views
from leadbridge.web.views import marketing as marketing_views
from leadbridge.web.views import notifications as notifications_views
from leadbridge.web.views import segments as segment_views
from leadbridge.web.views import settings as app_settings

app_name = "web"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", home.home, name="home"),
    path("account/", account.account, name="account"),
    path("contacts/", contacts.contact_list, name="contact_list"),
    path("contacts/new/", contacts.contact_create, name="contact_create"),
    path("contacts/<int:contact_id>/", contacts.contact_detail, name="contact_detail"),
    path("contacts/<int:contact_id>/edit/", contacts.contact_edit, name="contact_edit"),
    path("contacts/<int:contact_id>/timeline/", contacts.contact_timeline, name="contact_timeline"),
    path("contacts/<int:contact_id>/visits/", contacts.contact_visits, name="contact_visits"),
    path("contacts/<int:contact_id>/stage/", contacts.contact_stage, name="contact_stage"),
    path("contacts/<int:contact_id>/tags/", contacts.contact_tags, name="contact_tags"),
    path("contacts/<int:contact_id>/notes/", contacts.contact_note_add, name="contact_note_add"),
    path("contacts/<int:contact_id>/consent/", contacts.contact_consent, name="contact_consent"),
    path("contacts/<int:contact_id>/merge/", contacts.contact_merge, name="contact_merge"),
    path("contacts/<int:contact_id>/erase/", contacts.contact_erase, name="contact_erase"),
    path("contacts/merges/<int:merge_id>/undo/", contacts.merge_undo, name="merge_undo"),
    path("companies/", companies.company_list, name="company_list"),
    path("companies/new/", companies.company_create, name="company_create"),
    path("companies/<int:company_id>/", companies.company_detail, name="company_detail"),
    path("companies/<int:company_id>/edit/", companies.company_edit, name="company_edit"),
    # Segments: saved filters over contacts, the builder and its preview.
    path("segments/", segment_views.segment_list, name="segment_list"),
    path("segments/new/", segment_views.segment_create, name="segment_create"),
    path("segments/preview/", segment_views.segment_preview, name="segment_preview"),
    path("segments/<int:segment_id>/", segment_views.segment_detail, name="segment_detail"),
    path("segments/<int:segment_id>/edit/", segment_views.segment_edit, name="segment_edit"),
    path("segments/<int:segment_id>/delete/", segment_views.segment_delete, name="segment_delete"),
    path("segments/<int:segment_id>/count/", segment_views.segment_count, name="segment_count"),
    path("segments/<int:segment_id>/export.csv", segment_views.segment_export, name="segment_export"),
    # Admin-side pages (data quality, product issues, import, audit, settings).
    path("quality/", quality.quality_list, name="quality_list"),
    path("quality/<int:item_id>/resolve/", quality.quality_resolve, name="quality_resolve"),
    path("product-issues/", quality.product_issues, name="product_issues"),
    path(
        "product-issues/<int:note_id>/resolve/", quality.product_issue_resolve, name="product_issue_resolve"
    ),
    path("import/", imports.import_start, name="import_start"),
    path("import/<int:job_id>/map/", imports.import_map, name="import_map"),
    path("import/<int:job_id>/", imports.import_detail, name="import_detail"),
    path("import/<int:job_id>/errors.csv", imports.import_errors_csv, name="import_errors"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("settings/", app_settings.settings_page, name="settings"),
    path("settings/tokens/", app_settings.token_create, name="settings_token_create"),
    path("settings/tokens/<int:token_id>/revoke/", app_settings.token_revoke, name="settings_token_revoke"),
    path("settings/tags/", app_settings.tag_create, name="settings_tag_create"),
    path("settings/tags/<int:tag_id>/delete/", app_settings.tag_delete, name="settings_tag_delete"),
    path("settings/custom-fields/", app_settings.custom_field_create, name="settings_custom_field_create"),
    path(
        "settings/custom-fields/<int:field_id>/delete/",
        app_settings.custom_field_delete,
        name="settings_custom_field_delete",
    ),
    path("settings/users/", app_settings.user_create, name="settings_user_create"),
    # Marketing: campaigns, spend, channels and channel rules.
    path("marketing/", marketing_views.campaign_list, name="campaign_list"),
    path("marketing/campaigns/new/", marketing_views.campaign_create, name="campaign_create"),
    path("marketing/campaigns/<int:campaign_id>/", marketing_views.campaign_detail, name="campaign_detail"),
    path("marketing/campaigns/<int:campaign_id>/edit/", marketing_views.campaign_edit, name="campaign_edit"),
    path("marketing/spend/", marketing_views.spend_page, name="spend_page"),
    path("marketing/channels/", marketing_views.channel_settings, name="channel_settings"),
    path("marketing/channels/<int:channel_id>/edit/", marketing_views.channel_edit, name="channel_edit"),
    path(
        "marketing/channels/<int:channel_id>/delete/", marketing_views.channel_delete, name="channel_delete"
    ),
    path("marketing/channels/<int:channel_id>/move/", marketing_views.channel_move, name="channel_move"),
    path("marketing/rules/", marketing_views.rule_settings, name="rule_settings"),
    path("marketing/rules/<int:rule_id>/edit/", marketing_views.rule_edit, name="rule_edit"),
    path("marketing/rules/<int:rule_id>/delete/", marketing_views.rule_delete, name="rule_delete"),
    path("marketing/rules/<int:rule_id>/move/", marketing_views.rule_move, name="rule_move"),
    # Capture: sales inbox, the inquiry page, marketing's feed, notifications, capture setup.
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inquiries/", inquiries_views.inquiry_feed, name="inquiry_feed"),
    path("inquiries/<int:inquiry_id>/", inbox_views.inquiry_detail, name="inquiry_detail"),
    path("inquiries/<int:inquiry_id>/classify/", inbox_views.inquiry_classify, name="inquiry_classify"),
    path("inquiries/<int:inquiry_id>/review/", inbox_views.inquiry_review, name="inquiry_review"),
    path("inquiries/<int:inquiry_id>/responded/", inbox_views.inquiry_responded, name="inquiry_responded"),
    path("inquiries/<int:inquiry_id>/resolve/", inbox_views.inquiry_resolve, name="inquiry_resolve"),
    path("notifications/", notifications_views.notification_list, name="notifications"),
    path("notifications/count/", notifications_views.notification_count, name="notification_count"),
    path("notifications/read/", notifications_views.notification_read, name="notification_read"),
    path(
        "notifications/<int:notification_id>/open/",
        notifications_views.notification_open,
        name="notification_open",
    ),
    # Junk alerts (capture, which cannot reverse web URLs) link to /campaigns/<id>/, in the app and by email.
    path(
        "campaigns/<int:campaign_id>/",
        RedirectView.as_view(pattern_name="web:campaign_detail"),
        name="campaign_short",
    ),
    path("capture-setup/", capture_settings_views.index, name="capture_settings"),
    path("capture-setup/sites/", capture_settings_views.site_list, name="site_list"),
    path("capture-setup/sites/<int:site_id>/", capture_settings_views.site_edit, name="site_edit"),
    path(
        "capture-setup/sites/<int:site_id>/snippet/", capture_settings_views.site_snippet, name="site_snippet"
    ),
    path("capture-setup/classes/", capture_settings_views.inquiry_class_list, name="inquiry_class_list"),
    path(
        "capture-setup/classes/<int:class_id>/",
        capture_settings_views.inquiry_class_edit,
        name="inquiry_class_edit",
    ),
    path(
        "capture-setup/classes/<int:class_id>/move/",
        capture_settings_views.inquiry_class_move,
        name="inquiry_class_move",
    ),
]
