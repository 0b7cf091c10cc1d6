; A shift of a memory operand by a masked count of 0 still needs a writable
; destination: SHL [cs:ebx], cl with CL=0 raises #GP(0) (CS is not writable),
; as on the host CPU (a read-only page faults too) and /dev/kvm. No IDT: the
; #GP becomes a triple fault. Found by the differential fuzzer; fixed in
; exec/shift.h.
; mode: prot32
; expect-exit: shutdown
bits 32
org 0x10000
  mov ebx, 0x11000
  xor ecx, ecx
  shl dword [ebx], cl          ; DS: writable, count 0: fine
  db 0x2e, 0xd3, 0x23          ; shl dword [cs:ebx], cl: #GP(0)
  mov eax, 1                   ; not reached
  hlt
