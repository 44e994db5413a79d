"""Local stack for Ticket Engine: DynamoDB Local, the template reader and an API Gateway stand-in.

Imported as ``local.*`` with the project root on the Python path (``python -m local.server``).
"""
