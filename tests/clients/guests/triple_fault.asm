; UD2 with no IDT: #UD cannot be delivered -> #DF -> triple fault, i.e.
; KVM_EXIT_SHUTDOWN; `softkvm run` must report it and exit 4.
bits 64
org 0x10000
    mov eax, 0x5a5a
    ud2
