from ninja import NinjaAPI

api = NinjaAPI(title="LeadBridge API", version="1", urls_namespace="api")
