"""FIX 4.4 tag numbers, message types and reject codes used by the session layer.

Kept in one place so the codec, validator and session agree on what is
"header", what is "admin" and what a reject reason means.
"""

from __future__ import annotations

from typing import Final

BEGIN_STRING: Final = 8
BODY_LENGTH: Final = 9
CHECKSUM: Final = 10
MSG_TYPE: Final = 35
SENDER_COMP_ID: Final = 49
TARGET_COMP_ID: Final = 56
MSG_SEQ_NUM: Final = 34
SENDING_TIME: Final = 52
POSS_DUP_FLAG: Final = 43
POSS_RESEND: Final = 97
ORIG_SENDING_TIME: Final = 122

BEGIN_SEQ_NO: Final = 7
END_SEQ_NO: Final = 16
NEW_SEQ_NO: Final = 36
REF_SEQ_NUM: Final = 45
TEXT: Final = 58
ENCRYPT_METHOD: Final = 98
HEART_BT_INT: Final = 108
CLIENT_ID: Final = 109
TEST_REQ_ID: Final = 112
GAP_FILL_FLAG: Final = 123
RESET_SEQ_NUM_FLAG: Final = 141
REF_TAG_ID: Final = 371
REF_MSG_TYPE: Final = 372
SESSION_REJECT_REASON: Final = 373
BUSINESS_REJECT_REF_ID: Final = 379
BUSINESS_REJECT_REASON: Final = 380
CL_ORD_ID: Final = 11
USERNAME: Final = 553
PASSWORD: Final = 554
NONCE: Final = 5025
FORCE_RESET_CLORDID: Final = 5030
REBASED: Final = 5051
CANCEL_ORDERS_ON_DISCONNECT: Final = 8674
NO_HOPS: Final = 627

# Standard header (FIX 4.4) incl. the NoHops group, and trailer.
HEADER_TAGS: Final = frozenset(
    {8, 9, 35, 49, 56, 115, 128, 90, 91, 34, 50, 142, 57, 143, 116, 144, 129, 145,
     43, 97, 52, 122, 212, 213, 347, 369, 627, 628, 629, 630}
)
TRAILER_TAGS: Final = frozenset({93, 89, 10})

# Routing header fields and the field each becomes on a reply (QuickFIX's reverseRoute):
# OnBehalfOf* <-> DeliverTo*, Sender{Sub,Location}ID <-> Target{Sub,Location}ID.
REVERSE_ROUTE: Final[dict[int, int]] = {
    115: 128, 128: 115, 116: 129, 129: 116, 144: 145, 145: 144, 50: 57, 57: 50, 142: 143, 143: 142,
}

# Tags the session layer fills in on every outbound message; an application
# must not set them itself.
SESSION_MANAGED_TAGS: Final = frozenset({8, 9, 10, 34, 35, 43, 49, 52, 56, 97, 122})

ADMIN_MSG_TYPES: Final = frozenset({"0", "1", "2", "3", "4", "5", "A"})

# Every MsgType value defined by FIX 4.4 (user-defined types start with "U").
FIX44_MSG_TYPES: Final = frozenset(
    "0 1 2 3 4 5 6 7 8 9 A B C D E F G H J K L M N P Q R S T V W X Y Z "
    "a b c d e f g h i j k l m n o p q r s t u v w x y z "
    "AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AP AQ AR AS AT AU AV AW AX AY AZ "
    "BA BB BC BD BE BF BG BH".split()
)

# FIX 4.4 NumInGroup tags: once one of these appears, later repeated tags may
# legitimately belong to a repeating group (no data dictionary here).
GROUP_COUNT_TAGS: Final = frozenset(
    {33, 73, 78, 124, 136, 146, 199, 215, 232, 267, 268, 295, 296, 382, 384, 386,
     420, 428, 453, 454, 457, 473, 518, 539, 552, 555, 576, 580, 604, 627, 670, 683,
     702, 711, 753, 756, 768, 802, 804, 806, 864, 870, 887, 936, 948, 952, 960}
)


class RejectReason:
    """SessionRejectReason (373) values, FIX 4.4."""

    INVALID_TAG_NUMBER: Final = 0
    REQUIRED_TAG_MISSING: Final = 1
    TAG_NOT_DEFINED_FOR_MSG_TYPE: Final = 2
    UNDEFINED_TAG: Final = 3
    TAG_WITHOUT_VALUE: Final = 4
    VALUE_INCORRECT: Final = 5
    INCORRECT_DATA_FORMAT: Final = 6
    COMPID_PROBLEM: Final = 9
    SENDING_TIME_ACCURACY: Final = 10
    INVALID_MSG_TYPE: Final = 11
    TAG_APPEARS_MORE_THAN_ONCE: Final = 13
    TAG_OUT_OF_ORDER: Final = 14
    OTHER: Final = 99


class BusinessRejectReason:
    """BusinessRejectReason (380) values Kraken documents."""

    OTHER: Final = 0
    UNKNOWN_ID: Final = 1
    UNKNOWN_SECURITY: Final = 2
    UNSUPPORTED_MESSAGE_TYPE: Final = 3
    APPLICATION_NOT_AVAILABLE: Final = 4
    CONDITIONALLY_REQUIRED_FIELD_MISSING: Final = 5
    NOT_AUTHORIZED: Final = 6
    UNKNOWN_ORDER: Final = 101
    ORDER_TOO_OLD: Final = 104


TAG_NAMES: Final[dict[int, str]] = {
    7: "BeginSeqNo", 8: "BeginString", 9: "BodyLength", 10: "CheckSum", 11: "ClOrdID",
    16: "EndSeqNo", 34: "MsgSeqNum", 35: "MsgType", 36: "NewSeqNo", 43: "PossDupFlag",
    45: "RefSeqNum", 49: "SenderCompID", 52: "SendingTime", 56: "TargetCompID",
    58: "Text", 97: "PossResend", 98: "EncryptMethod", 108: "HeartBtInt",
    112: "TestReqID", 122: "OrigSendingTime", 123: "GapFillFlag",
    141: "ResetSeqNumFlag", 371: "RefTagID", 372: "RefMsgType",
    373: "SessionRejectReason", 553: "Username", 554: "Password", 5025: "Nonce",
    5030: "ForceResetClOrdID", 5051: "Rebased", 8674: "CancelOrdersOnDisconnect",
}


def tag_label(tag: int) -> str:
    """`Name (tag)` as Kraken writes it in reject texts, or just the number."""
    name = TAG_NAMES.get(tag)
    return f"{name} ({tag})" if name else str(tag)
